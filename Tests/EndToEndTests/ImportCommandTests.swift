import Foundation
import JSON
import TestSupport
import Testing

/// `usagectx import`: Claude Code and Codex CLI logs written by the test in their formats, imported into the tokens
/// metric through the binary.
@Suite("usagectx import")
struct ImportCommandTests {
  static func write(_ lines: [String], to path: String) throws {
    try FileManager.default.createDirectory(
      atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
  }

  static func assistant(
    id: String, request: String, session: String = "s-1", at: String, model: String = "claude-sonnet-4-5-20250929",
    input: Int, output: Int, cacheWrite: Int = 0, cacheRead: Int = 0
  ) -> String {
    #"{"type":"assistant","sessionId":"\#(session)","timestamp":"\#(at)","requestId":"\#(request)","uuid":"u-\#(id)-\#(request)","message":{"id":"\#(id)","model":"\#(model)","role":"assistant","usage":{"input_tokens":\#(input),"output_tokens":\#(output),"cache_creation_input_tokens":\#(cacheWrite),"cache_read_input_tokens":\#(cacheRead)}}}"#
  }

  /// A Claude Code configuration directory with two projects: a call streamed over two lines, one with cache tokens
  /// in another session, a user line, a synthetic line, and two malformed lines.
  static func claudeLogs() throws -> String {
    let root = StatusCommandTests.directory() + "-claude"
    try write(
      [
        #"{"type":"user","sessionId":"s-1","timestamp":"2025-11-20T10:00:00.000Z","message":{"role":"user","content":"hi"}}"#,
        assistant(id: "msg_1", request: "req_1", at: "2025-11-20T10:00:01.000Z", input: 100, output: 20),
        assistant(id: "msg_1", request: "req_1", at: "2025-11-20T10:00:02.000Z", input: 100, output: 20),
        "{not json",
        assistant(
          id: "msg_x", request: "req_x", at: "2025-11-20T10:00:03.000Z", model: "<synthetic>", input: 0, output: 0),
      ], to: root + "/projects/-home-me-app/s-1.jsonl")
    try write(
      [
        assistant(
          id: "msg_2", request: "req_2", session: "s-2", at: "2025-11-21T09:30:00.123456Z", input: 10, output: 500,
          cacheWrite: 2000, cacheRead: 30000),
        #"{"type":"assistant","timestamp":"2025-11-21T09:31:00Z","requestId":"r","message":{"id":"m","usage":{"input_tokens":-5}}}"#,
      ], to: root + "/projects/-home-me-lib/s-2.jsonl")
    return root
  }

  @Test("claude: each call once (streamed lines and a second import), cache tokens priced, malformed lines counted")
  func claude() throws {
    let root = try Self.claudeLogs()
    let state = StatusCommandTests.directory()
    let environment: [String: String?] = ["CLAUDE_CONFIG_DIR": root]
    let first = try OneShotCommand.run(["import", "claude", "--state", state], environment: environment)
    #expect(first.status == 0, "\(first.stderr)")
    #expect(first.stdout.contains("imported 2 of 2 calls from 2 files: 32,630 tokens"), "\(first.stdout)")
    #expect(first.stdout.contains("2 malformed lines skipped"))
    // stderr is not a terminal: no progress bar.
    #expect(first.stderr.isEmpty, "\(first.stderr)")

    let export = try OneShotCommand.run(["export", "--state", state, "--format", "jsonl"])
    let rows = try export.stdout.split(separator: "\n").map { try JSONData(parsing: String($0)) }
    #expect(rows.count == 2)
    #expect(rows[0]["time"] == "2025-11-20T10:00:01Z")
    #expect(rows[0]["key"] == "claude:msg_1:req_1")
    #expect(rows[1]["cacheRead"] == 30000)
    #expect(rows[1]["cacheWrite"] == 2000)
    #expect(rows[1]["conversation"] == "s-2")
    #expect(rows[1]["model"] == "claude-sonnet-4-5-20250929")
    // 10 × 3 + 500 × 15 + 30000 × 0.30 + 2000 × 3.75, per million.
    #expect(rows[1]["cost"] == 0.02403)

    let again = try OneShotCommand.run(["import", "claude", root + "/projects", "--state", state])
    #expect(again.stdout.contains("imported 0 of 2 calls"), "\(again.stdout)")
    #expect(again.stdout.contains("2 already imported before"))
    let history = try OneShotCommand.run(
      ["report", "--state", state, "--by", "conversation", "--metric", "tokens", "--format", "json"])
    let groups = try JSONData(parsing: history.stdout)["rows"]?.array ?? []
    #expect(groups.map { $0["total"] } == [120, 32510])
  }

  @Test("codex: the model from turn_context, cached input as cacheRead, repeated totals counted once")
  func codex() throws {
    let home = StatusCommandTests.directory() + "-codex"
    let usage = { (input: Int, cached: Int, output: Int, total: Int) in
      #"{"input_tokens":\#(input),"cached_input_tokens":\#(cached),"output_tokens":\#(output),"reasoning_output_tokens":0,"total_tokens":\#(total)}"#
    }
    let event = { (at: String, last: String, total: String) in
      #"{"timestamp":"\#(at)","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":\#(total),"last_token_usage":\#(last),"model_context_window":272000}}}"#
    }
    try Self.write(
      [
        #"{"timestamp":"2025-11-20T08:00:00.000Z","type":"session_meta","payload":{"id":"codex-session-1","cwd":"/tmp"}}"#,
        #"{"timestamp":"2025-11-20T08:00:01.000Z","type":"turn_context","payload":{"model":"gpt-5","cwd":"/tmp"}}"#,
        #"{"timestamp":"2025-11-20T08:00:02.000Z","type":"event_msg","payload":{"type":"token_count","info":null}}"#,
        event("2025-11-20T08:00:03.000Z", usage(1000, 200, 50, 1050), usage(1000, 200, 50, 1050)),
        event("2025-11-20T08:00:04.000Z", usage(1000, 200, 50, 1050), usage(1000, 200, 50, 1050)),
        event("2025-11-20T08:01:00.000Z", usage(400, 0, 100, 500), usage(1400, 200, 150, 1550)),
        "garbage",
      ], to: home + "/sessions/2025/11/20/rollout-2025-11-20T08-00-00-abc.jsonl")
    let state = StatusCommandTests.directory()
    let dry = try OneShotCommand.run(
      ["import", "codex", "--state", state, "--dry-run"], environment: ["CODEX_HOME": home])
    #expect(dry.status == 0, "\(dry.stderr)")
    #expect(dry.stdout.contains("would import 2 of 2 calls from 1 files: 1,550 tokens"), "\(dry.stdout)")
    #expect(dry.stdout.contains("1 malformed lines skipped"))
    #expect(!FileManager.default.fileExists(atPath: state + "/usage.sqlite3"))

    let run = try OneShotCommand.run(["import", "codex", "--state", state], environment: ["CODEX_HOME": home])
    #expect(run.status == 0, "\(run.stderr)")
    let export = try OneShotCommand.run(["export", "--state", state, "--format", "jsonl"])
    let rows = try export.stdout.split(separator: "\n").map { try JSONData(parsing: String($0)) }
    #expect(rows.count == 2)
    #expect(rows[0]["input"] == 800)
    #expect(rows[0]["cacheRead"] == 200)
    #expect(rows[0]["output"] == 50)
    #expect(rows[0]["model"] == "gpt-5")
    #expect(rows[0]["conversation"] == "codex-session-1")
    #expect(rows[0]["provider"] == "openai")
    // 800 × 1.25 + 200 × 0.125 + 50 × 10, per million.
    #expect(rows[0]["cost"] == 0.001525)
  }

  @Test("no logs: a message, exit 0; an unknown tool: exit 2")
  func nothing() throws {
    let state = StatusCommandTests.directory()
    let empty = StatusCommandTests.directory()
    let none = try OneShotCommand.run(
      ["import", "claude", "--state", state], environment: ["CLAUDE_CONFIG_DIR": empty, "HOME": empty])
    #expect(none.status == 0, "\(none.stderr)")
    #expect(none.stdout.contains("no claude logs found"))
    let bad = try OneShotCommand.run(["import", "gemini", "--state", state])
    #expect(bad.status == 2)
    #expect(bad.stderr.contains("claude or codex"))
  }

  @Test("on a terminal, a progress bar goes to stderr; the summary stays on stdout")
  func progressOnTerminal() throws {
    let root = try Self.claudeLogs()
    let state = StatusCommandTests.directory()
    let output = state + "-terminal.out"
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let file = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    defer { try? file.close() }
    // script(1) runs the command on a new pseudo-terminal and copies what it writes to its own stdout.
    let command = "'\(SidecarProcess.binaryPath)' import claude '\(root)/projects' --state '\(state)'"
    let process = try SpawnedProcess(
      "script", ["-qec", command, "/dev/null"], stdin: .null, stdout: .fileDescriptor(file.fileDescriptor),
      stderr: .inherit)
    #expect(try process.wait(timeout: SidecarProcess.defaultTimeout)?.code == 0)
    let text = try String(contentsOfFile: output, encoding: .utf8)
    #expect(text.contains("import claude ["), "\(text)")
    #expect(text.contains("files 2/2"))
    #expect(text.contains("imported 2 of 2 calls"))
  }
}
