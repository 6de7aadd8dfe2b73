import Foundation
import JSON
import TestSupport
import Testing

/// Faults in the ledger's file, end to end: damage anywhere in it, or a file that is not a ledger, stops `usagectx`,
/// `usagectx report` and `usagectx call` with exit 2 and a message naming it, and leaves it as it was; the files a
/// session creates are the user's alone whatever the umask.
@Suite("Ledger faults")
struct LedgerFaultTests {
  /// A state directory of its own (not created).
  static func stateDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-faults-\(UUID().uuidString)").path
  }

  static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  /// Records `count` increments of documents in one session on `state`, which then ends cleanly.
  static func record(_ count: Int, in state: String) throws {
    let sidecar = try SidecarProcess(arguments: ["--state", state])
    var burst = ""
    for id in 0..<count {
      // Each with a key, so each has a row of its own in the change log (keyless ones of a burst share one).
      burst +=
        #"{"jsonrpc":"2.0","id":\#(id),"method":"usage/increment","params":{"metric":"documents","key":"k\#(id)"}}"#
        + "\n"
    }
    try sidecar.sendRaw(burst)
    for _ in 0..<count { #expect(try sidecar.nextResponse()["result"]?["used"] != nil) }
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  /// The three ways to open a state directory, each expected to stop with exit 2 and `words` (and the file's path)
  /// on stderr, nothing on stdout.
  static func expectRefused(_ state: String, saying words: String) throws {
    let path = state + "/usage.sqlite3"
    let serve = try SidecarProcess(arguments: ["--state", state])
    #expect(try serve.waitForExit() == 2)
    #expect(serve.stderrText.contains(path) && serve.stderrText.contains(words), "serve: \(serve.stderrText)")
    for arguments in [["report"], ["call", "usage/increment", #"{"metric":"documents"}"#]] {
      let run = try OneShotCommand.run(arguments + ["--state", state])
      #expect(run.status == 2, "\(arguments[0]): \(run.stderr)")
      #expect(run.stdout.isEmpty, "\(arguments[0])")
      #expect(run.stderr.contains(path) && run.stderr.contains(words), "\(arguments[0]): \(run.stderr)")
    }
  }

  @Test(
    "a ledger damaged in the middle of a page: serve, report and call exit 2 naming it, and its bytes stay the same")
  func damagedPage() throws {
    let state = Self.stateDirectory()
    try Self.record(300, in: state)
    let path = state + "/usage.sqlite3"
    let damage = try LedgerDamage.damage(path)
    try #require(damage.quickCheck != "ok", "quick_check does not see the damage to page \(damage.page)")
    let before = try Self.bytes(path)
    try Self.expectRefused(state, saying: "damaged")
    #expect(try Self.bytes(path) == before)
  }

  @Test(
    "usagectx call on a file at the ledger's path that is not a ledger exits 2 naming it, and leaves it as it was",
    arguments: ["notes", "another program's database"])
  func callOnForeignFile(kind: String) throws {
    let state = Self.stateDirectory()
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let path = state + "/usage.sqlite3"
    if kind == "notes" {
      try Data("my notes, not a database\n".utf8).write(to: URL(fileURLWithPath: path))
    } else {
      _ = try LedgerDamage.python(
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('create table notes (x)'); c.commit()", path)
    }
    let before = try Self.bytes(path)
    let run = try OneShotCommand.run(["call", "usage/get", "{}", "--state", state])
    #expect(run.status == 2)
    #expect(run.stdout.isEmpty)
    #expect(run.stderr.contains(path) && run.stderr.contains("not a usagectx ledger"), "\(run.stderr)")
    #expect(try Self.bytes(path) == before)
  }

  @Test("under umask 000 a session's usage.sqlite3, -wal and -shm are created mode 0600")
  func privateFiles() throws {
    let state = Self.stateDirectory()
    let path = state + "/usage.sqlite3"
    let session = try UmaskedSession(arguments: ["--state", state])
    try session.send(#"{"jsonrpc":"2.0","id":1,"method":"usage/increment","params":{"metric":"documents"}}"#)
    // The answer comes after the commit: the log and its index exist while the session holds the ledger open.
    #expect(try JSONData(parsing: try session.nextLine())["result"]?["used"] == 1)
    for suffix in ["", "-wal", "-shm"] {
      let mode = try FileManager.default.attributesOfItem(atPath: path + suffix)[.posixPermissions] as? Int
      #expect(mode == 0o600, "usage.sqlite3\(suffix): \(String(mode ?? 0, radix: 8))")
    }
    #expect(try session.finish() == 0)
    let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(mode == 0o600)
  }
}

/// `usagectx` started by `/bin/sh` under `umask 000` (the test process's own umask is shared by the tests running
/// beside it), with newline-delimited JSON on its stdin and stdout; stderr is discarded. Every wait is bounded.
final class UmaskedSession {
  private let process: SpawnedProcess
  private let input: PipeEnd
  private let output: PipeEnd
  private var buffer: [UInt8] = []

  init(arguments: [String]) throws {
    let path = SidecarProcess.binaryPath
    guard FileManager.default.isExecutableFile(atPath: path) else { throw SidecarProcess.Failure.binaryMissing(path) }
    process = try SpawnedProcess(
      "/bin/sh", ["-c", #"umask 000 && exec "$0" "$@""#, path] + arguments, stdin: .pipe, stdout: .pipe, stderr: .null)
    guard let input = process.stdin, let output = process.stdout else {
      preconditionFailure("SpawnedProcess returns the test's end of every piped stream")
    }
    self.input = input
    self.output = output
  }

  /// A session still running is asked to end (SIGTERM), given a few seconds for it, then killed; either way it is
  /// reaped.
  deinit {
    process.end(grace: 5)
  }

  /// Sends one message and a newline.
  func send(_ line: String) throws {
    try input.write(Array((line + "\n").utf8))
  }

  /// The next line usagectx writes.
  func nextLine(timeout: Double = SidecarProcess.defaultTimeout) throws -> String {
    let deadline = Date().addingTimeInterval(timeout)
    while buffer.firstIndex(of: 0x0A) == nil {
      let remaining = deadline.timeIntervalSinceNow
      guard remaining > 0 else { throw SidecarProcess.Failure.timedOut("a line") }
      switch try output.read(timeout: remaining) {
      case .bytes(let bytes): buffer.append(contentsOf: bytes)
      case .endOfFile: throw SidecarProcess.Failure.closed("a line")
      case .timedOut: continue
      }
    }
    let newline = buffer.firstIndex(of: 0x0A) ?? buffer.endIndex
    defer { buffer.removeSubrange(...newline) }
    return String(decoding: buffer[..<newline], as: UTF8.self)
  }

  /// Ends the input and waits for usagectx to exit; returns its status.
  func finish(timeout: Double = SidecarProcess.defaultTimeout) throws -> Int32 {
    input.close()
    guard let termination = try process.wait(timeout: timeout) else {
      throw SidecarProcess.Failure.timedOut("process exit")
    }
    return termination.code
  }
}
