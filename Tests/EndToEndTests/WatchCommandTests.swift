import Foundation
import TestSupport
import Testing

/// `usagectx watch` driven in tmux as a person would use it: the screen follows another process's changes, the
/// bars change colour, the frame follows a resize, and q puts the terminal back.
@Suite("usagectx watch", .serialized)
struct WatchCommandTests {
  /// A tmux server of the test's own (its own socket, no configuration file).
  struct Tmux {
    let socket = "usagectx-watch-\(UUID().uuidString.prefix(8))"

    /// Runs `tmux ARGS` and returns its stdout.
    @discardableResult
    func run(_ arguments: [String]) throws -> String {
      let output = FileManager.default.temporaryDirectory.appendingPathComponent("\(socket)-\(UUID().uuidString)")
      _ = FileManager.default.createFile(atPath: output.path, contents: nil)
      defer { try? FileManager.default.removeItem(at: output) }
      let file = try FileHandle(forWritingTo: output)
      defer { try? file.close() }
      let process = try SpawnedProcess(
        "tmux", ["-L", socket, "-f", "/dev/null"] + arguments, stdin: .null,
        stdout: .fileDescriptor(file.fileDescriptor), stderr: .null)
      _ = try process.wait(timeout: 30)
      return String(decoding: try Data(contentsOf: output), as: UTF8.self)
    }

    /// What the pane shows (with `escapes`, its colours as SGR sequences).
    func screen(escapes: Bool = false) throws -> String {
      try run(["capture-pane", "-p", "-t", "w"] + (escapes ? ["-e"] : []))
    }

    /// Waits (up to a generous deadline) until the screen satisfies `condition`; returns it.
    @discardableResult
    func waitFor(
      escapes: Bool = false, _ what: String, _ condition: (String) -> Bool
    ) throws -> String {
      let deadline = Date().addingTimeInterval(SidecarProcess.defaultTimeout)
      var last = ""
      while Date() < deadline {
        last = try screen(escapes: escapes)
        if condition(last) { return last }
        usleep(50_000)
      }
      Issue.record("timed out waiting for \(what); the screen:\n\(last)")
      return last
    }

    func kill() { _ = try? run(["kill-server"]) }
  }

  /// A shell line that runs `command`, then says how it ended and stays, so the pane can be read afterwards.
  static func shell(_ command: String) -> String {
    "\(command); echo \"exit status $?\"; sleep 600"
  }

  @Test("another process's change shows, colours follow the level, a resize redraws, q restores the terminal")
  func live() throws {
    let state = StatusCommandTests.directory()
    try StatusCommandTests.call(state, "usage/increment", #"{"metric":"documents","amount":10}"#)
    let tmux = Tmux()
    defer { tmux.kill() }
    let command = Self.shell(
      "env -u NO_COLOR TERM=xterm-256color '\(SidecarProcess.binaryPath)' watch --state '\(state)'")
    try tmux.run(["new-session", "-d", "-s", "w", "-x", "100", "-y", "30", command])
    try tmux.waitFor("the first frame") { $0.contains("10 / 100 documents") && $0.contains("tokens") }

    try StatusCommandTests.call(state, "usage/increment", #"{"metric":"documents","amount":75}"#)
    let warning = try tmux.waitFor(escapes: true, "the warning level in yellow") {
      $0.contains("85 / 100 documents")
    }
    let documents = warning.split(separator: "\n").first { $0.contains("85 / 100 documents") } ?? ""
    #expect(documents.contains("\u{1B}[33m"), "\(documents)")
    try StatusCommandTests.call(state, "usage/increment", #"{"metric":"documents","amount":15}"#)
    try tmux.waitFor(escapes: true, "the limit in red") { screen in
      screen.split(separator: "\n").contains { $0.contains("100 / 100 documents") && $0.contains("\u{1B}[31m") }
    }

    try tmux.run(["resize-window", "-t", "w", "-x", "60", "-y", "30"])
    try tmux.waitFor("a frame 60 columns wide") { screen in
      screen.contains("documents") && screen.split(separator: "\n").allSatisfy { $0.count <= 60 }
        && screen.split(separator: "\n").contains { $0.hasPrefix("documents") && $0.count > 50 }
    }

    try tmux.run(["send-keys", "-t", "w", "q"])
    // Back on the normal screen: the frame was on the alternate one and is gone.
    let after = try tmux.waitFor("the watch to end") { $0.contains("exit status ") }
    #expect(after.contains("exit status 0"), "\(after)")
    #expect(!after.contains("documents"))
    #expect(try tmux.run(["display-message", "-p", "-t", "w", "#{alternate_on}"]) == "0\n")
  }

  @Test("Ctrl-C leaves like q: exit 0, the normal screen back")
  func controlC() throws {
    let state = StatusCommandTests.directory()
    let tmux = Tmux()
    defer { tmux.kill() }
    let command = Self.shell("'\(SidecarProcess.binaryPath)' watch --state '\(state)'")
    try tmux.run(["new-session", "-d", "-s", "w", "-x", "90", "-y", "30", command])
    try tmux.waitFor("the first frame") { $0.contains("0 / 100 documents") }
    try tmux.run(["send-keys", "-t", "w", "C-c"])
    let after = try tmux.waitFor("the watch to end") { $0.contains("exit status ") }
    #expect(after.contains("exit status 0"), "\(after)")
    #expect(!after.contains("documents"))
    #expect(try tmux.run(["display-message", "-p", "-t", "w", "#{alternate_on}"]) == "0\n")
  }

  @Test("--once prints one frame without escapes on a pipe; NO_COLOR and the breakdown")
  func once() throws {
    let state = StatusCommandTests.directory()
    try StatusCommandTests.call(
      state, "usage/increment", #"{"metric":"tokens","input":90000,"output":1000,"labels":{"model":"gpt-4o"}}"#)
    let run = try OneShotCommand.run(["watch", "--once", "--state", state])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(!run.stdout.contains("\u{1B}"))
    #expect(run.stdout.contains("91k / 100k tokens   91%  $0.24"))
    #expect(run.stdout.contains("gpt-4o"))
    #expect(run.stdout.contains("90,000"))
    #expect(run.stdout.contains("monthly, resets in"))
    let forced = try OneShotCommand.run(
      ["watch", "--once", "--state", state, "--color", "always"], environment: ["NO_COLOR": nil])
    #expect(forced.stdout.contains("\u{1B}[33m"))
  }
}
