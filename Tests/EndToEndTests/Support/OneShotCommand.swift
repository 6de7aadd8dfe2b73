import Foundation
import TestSupport

/// One run of a `usagectx` subcommand that reads no input and exits by itself (`usagectx report …`), with what it
/// wrote to stdout and stderr. Output goes to files, so neither stream can fill a pipe and stall the other.
struct OneShotCommand {
  let status: Int32
  let stdout: String
  let stderr: String

  /// Runs the binary under test (``SidecarProcess/binaryPath``) with `arguments`; `environment` entries are added to
  /// (or, with `nil`, removed from) the test's own environment. A run longer than `timeout` is killed and throws.
  static func run(
    _ arguments: [String], environment: [String: String?] = [:], timeout: Double = SidecarProcess.defaultTimeout
  ) throws -> OneShotCommand {
    let path = SidecarProcess.binaryPath
    guard FileManager.default.isExecutableFile(atPath: path) else { throw SidecarProcess.Failure.binaryMissing(path) }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-run-\(UUID().uuidString)")
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
      path, arguments, environment: merged,
      stdin: .null, stdout: .fileDescriptor(out.fileDescriptor), stderr: .fileDescriptor(err.fileDescriptor))
    guard let termination = try process.wait(timeout: timeout) else {
      process.end(grace: 5)
      throw SidecarProcess.Failure.timedOut("usagectx \(arguments.joined(separator: " ")) to exit")
    }
    return OneShotCommand(
      status: termination.code,
      stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
      stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
  }
}
