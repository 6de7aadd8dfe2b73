import Foundation
import TestSupport
import Testing

/// The launcher every test uses to start programs: streams, environment, directory, how children end, and what they
/// do not inherit from the test process or from each other.
@Suite("Spawned processes")
struct SpawnedProcessTests {
  /// Seconds any single wait here may take.
  static let timeout = 10.0

  /// Everything `process` writes to its stdout pipe, then its termination.
  static func run(_ process: SpawnedProcess) throws -> (output: String, termination: SpawnedProcess.Termination) {
    let output = try #require(process.stdout).readToEnd()
    return (String(decoding: output, as: UTF8.self), try process.wait())
  }

  @Test("an exit status and a signal are told apart")
  func termination() throws {
    #expect(try SpawnedProcess("sh", ["-c", "exit 3"]).wait() == .exited(3))
    #expect(try SpawnedProcess("sh", ["-c", "kill -TERM $$"]).wait() == .signalled(SIGTERM))
    let sleeper = try SpawnedProcess("sleep", ["30"])
    #expect(try sleeper.wait(timeout: 0.05) == nil)
    #expect(sleeper.isRunning)
    sleeper.kill(SIGKILL)
    #expect(try sleeper.wait(timeout: Self.timeout) == .signalled(SIGKILL))
    #expect(!sleeper.isRunning)
    #expect(sleeper.termination?.code == SIGKILL)
  }

  @Test("the environment is the one given, whole, and the working directory is the one given")
  func environmentAndDirectory() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-spawn-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let process = try SpawnedProcess(
      "sh", ["-c", #"echo "$ONLY:${HOME-unset}"; pwd -P"#], environment: ["ONLY": "x", "PATH": "/usr/bin:/bin"],
      directory: directory.path, stdout: .pipe)
    let (output, termination) = try Self.run(process)
    #expect(termination == .exited(0))
    #expect(output == "x:unset\n\(directory.resolvingSymlinksInPath().path)\n")
  }

  @Test("stdin from /dev/null, stdout to a file, stderr through a pipe")
  func streams() throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-spawn-\(UUID().uuidString)")
    #expect(FileManager.default.createFile(atPath: file.path, contents: nil))
    defer { try? FileManager.default.removeItem(at: file) }
    let handle = try FileHandle(forWritingTo: file)
    defer { try? handle.close() }
    let process = try SpawnedProcess(
      "sh", ["-c", "cat; echo out; echo err >&2"], stdin: .null, stdout: .fileDescriptor(handle.fileDescriptor),
      stderr: .pipe)
    let errors = OutputCollector(try #require(process.stderr))
    #expect(try process.wait() == .exited(0))
    #expect(errors.waitUntilFinished(timeout: Self.timeout))
    #expect(errors.text == "err\n")
    #expect(String(decoding: try Data(contentsOf: file), as: UTF8.self) == "out\n")
  }

  @Test("a child starts with no blocked or ignored signals and no descriptors but 0, 1 and 2")
  func cleanStart() throws {
    let status = try Self.run(try SpawnedProcess("cat", ["/proc/self/status"], stdout: .pipe)).output
    /// A signal mask line of /proc/self/status ("SigBlk:\t0000000000000000"), bit n - 1 standing for signal n.
    func mask(_ name: String) -> UInt64? {
      status.split(separator: "\n").first { $0.hasPrefix(name + ":\t") }.flatMap {
        UInt64($0.dropFirst(name.count + 2), radix: 16)
      }
    }
    #expect(mask("SigBlk") == 0)
    // Signals 1 to 31 (glibc's posix_spawn leaves its two internal real-time signals, 32 and 33, ignored).
    #expect(mask("SigIgn").map { $0 & 0x7fff_ffff } == 0)
    let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    #expect(descriptors > 3, "the test process has more than its standard streams open")
    // ls has the directory it lists open as well.
    let listing = try Self.run(try SpawnedProcess("sh", ["-c", "ls /proc/$$/fd"], stdout: .pipe)).output
    #expect(listing.split(separator: "\n").sorted() == ["0", "1", "2"])
  }

  @Test("closing a child's stdin ends its input even while another child started later still runs")
  func pipesAreNotInherited() throws {
    let cat = try SpawnedProcess("cat", stdin: .pipe, stdout: .pipe)
    let other = try SpawnedProcess("sleep", ["30"])
    defer { other.end() }
    try #require(cat.stdin).write(Array("hello".utf8))
    try #require(cat.stdin).close()
    let output = try #require(cat.stdout)
    var received: [UInt8] = []
    reading: while true {
      switch try output.read(timeout: Self.timeout) {
      case .bytes(let bytes): received += bytes
      case .endOfFile: break reading
      case .timedOut:
        Issue.record("cat did not see the end of its input")
        break reading
      }
    }
    #expect(received == Array("hello".utf8))
    #expect(try cat.wait(timeout: Self.timeout) == .exited(0))
    #expect(other.isRunning)
  }

  @Test("a name without a slash is looked up in PATH; one found nowhere is an error")
  func lookup() throws {
    #expect(try SpawnedProcess("true", environment: ["PATH": "/nonexistent:/usr/bin:/bin"]).wait() == .exited(0))
    #expect(throws: SpawnedProcess.NotFound.self) {
      _ = try SpawnedProcess("usagectx-no-such-program", environment: ["PATH": "/usr/bin:/bin"])
    }
  }
}
