import Foundation
import TestSupport

/// A program other than usagectx that a test drives (python3 with the MCP SDK, nvim, emacs): whether it is installed,
/// and one run of it with what it wrote. Output goes to files, so neither stream can fill a pipe and stall the other.
struct ExternalTool {
  let status: Int32
  let stdout: String
  let stderr: String

  /// The repository's root, where the tools run (the fixtures and editors/ are named relative to it).
  static var root: String { ProtocolReference.root.path }

  /// Whether `program` runs and exits 0 with `arguments` (a quick check that it is installed and usable).
  static func works(_ program: String, _ arguments: [String]) -> Bool {
    (try? run(program, arguments, timeout: 60).status) == 0
  }

  /// Runs `program` with `arguments`; `environment` entries are added to the test's own environment. A run longer
  /// than `timeout` is killed and throws.
  static func run(
    _ program: String, _ arguments: [String], environment: [String: String] = [:], timeout: Double = 120
  ) throws -> ExternalTool {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-tool-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("stdout")
    let errURL = scratch.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
    let out = try FileHandle(forWritingTo: outURL)
    let err = try FileHandle(forWritingTo: errURL)
    defer {
      try? out.close()
      try? err.close()
    }
    var merged = ProcessInfo.processInfo.environment
    for (key, value) in environment { merged[key] = value }
    let process = try SpawnedProcess(
      program, arguments, environment: merged, directory: root,
      stdin: .null, stdout: .fileDescriptor(out.fileDescriptor), stderr: .fileDescriptor(err.fileDescriptor))
    guard let termination = try process.wait(timeout: timeout) else {
      process.end(grace: 5)
      throw SidecarProcess.Failure.timedOut("\(program) \(arguments.joined(separator: " ")) to exit")
    }
    return ExternalTool(
      status: termination.code,
      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
  }

  /// `key value` lines (as the editor fixtures write them), by key; the first of each key.
  static func findings(_ text: String) -> [String: String] {
    var found: [String: String] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: " ", maxSplits: 1)
      guard let key = parts.first, found[String(key)] == nil else { continue }
      found[String(key)] = parts.count > 1 ? String(parts[1]) : ""
    }
    return found
  }

  /// Whether process `pid` has ended (gone, or a zombie nobody reaped), waiting up to `timeout` seconds.
  static func processEnds(_ pid: Int32, timeout: Double = 30) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      if kill(pid, 0) != 0 { return true }
      if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")"), stat[stat.index(close, offsetBy: 2)] == "Z"
      {
        return true
      }
      if Date() > deadline { return false }
      usleep(20_000)
    }
  }
}
