import Foundation
import TestSupport
import Testing

/// `scripts/package`: the Debian package is built, installed with dpkg into a scratch root of its own (its own
/// database), run from PATH (`usagectx plugins`, `usagectx demo`), and removed without leaving a file.
@Suite("scripts/package")
struct PackageTests {
  /// Runs `executable` with `arguments`; returns its exit code and what it wrote to stdout and stderr.
  static func run(
    _ executable: String, _ arguments: [String], path: String? = nil, timeout: Double = 120
  ) throws -> (code: Int32, output: String) {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-pkg-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: scratch.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let file = try FileHandle(forWritingTo: scratch)
    defer { try? file.close() }
    var environment = ProcessInfo.processInfo.environment
    if let path { environment["PATH"] = path + ":" + (environment["PATH"] ?? "/usr/bin:/bin") }
    let process = try SpawnedProcess(
      executable, arguments, environment: environment, directory: PluginFixtures.repositoryRoot.path, stdin: .null,
      stdout: .fileDescriptor(file.fileDescriptor), stderr: .fileDescriptor(file.fileDescriptor))
    guard let termination = try process.wait(timeout: timeout) else {
      process.end(grace: 5)
      throw SidecarProcess.Failure.timedOut("\(executable) \(arguments.joined(separator: " "))")
    }
    return (termination.code, String(decoding: try Data(contentsOf: scratch), as: UTF8.self))
  }

  @Test("built, installed into a scratch root, run from PATH, removed cleanly")
  func installAndRemove() throws {
    let scratch = StatusCommandTests.directory() + "-package"
    let deb = scratch + "/usagectx.deb"
    // A release build the first time: generous.
    let built = try Self.run("bash", ["scripts/package", "--output", deb], timeout: 1_800)
    #expect(built.code == 0, "\(built.output.suffix(2_000))")
    let info = try Self.run("dpkg-deb", ["--field", deb, "Package", "Depends"])
    #expect(info.output.contains("Package: usagectx"))
    #expect(info.output.contains("libjansson4") && info.output.contains("libsqlite3-0"), "\(info.output)")

    // A dpkg database of its own: the machine's is not touched. The libraries it depends on are the machine's.
    let root = scratch + "/root"
    for directory in ["info", "updates"] {
      try FileManager.default.createDirectory(
        atPath: root + "/var/lib/dpkg/" + directory, withIntermediateDirectories: true)
    }
    for file in ["status", "available"] {
      _ = FileManager.default.createFile(atPath: root + "/var/lib/dpkg/" + file, contents: nil)
    }
    let installed = try Self.run("dpkg", ["--root=\(root)", "--force-depends", "--force-not-root", "-i", deb])
    #expect(installed.code == 0, "\(installed.output)")
    let bin = root + "/usr/bin"
    for file in [
      "/usr/bin/usagectx", "/usr/lib/usagectx/plugins/libusagectx-tokens.so", "/usr/share/man/man1/usagectx.1.gz",
      "/usr/share/bash-completion/completions/usagectx", "/usr/share/zsh/site-functions/_usagectx",
      "/usr/share/fish/vendor_completions.d/usagectx.fish",
    ] {
      #expect(FileManager.default.fileExists(atPath: root + file), "\(file)")
    }

    let plugins = try Self.run("usagectx", ["plugins"], path: bin)
    #expect(plugins.code == 0, "\(plugins.output)")
    for name in ["documents", "requests", "storage", "tokens"] {
      #expect(plugins.output.contains("\(root)/usr/lib/usagectx/plugins/libusagectx-\(name).so"), "\(plugins.output)")
    }
    #expect(!plugins.output.contains("failed"))
    let demo = try Self.run("usagectx", ["demo"], path: bin)
    #expect(demo.code == 0, "\(demo.output.suffix(1_000))")
    #expect(demo.output.contains("session ended with exit code 0"))

    let removed = try Self.run("dpkg", ["--root=\(root)", "--force-not-root", "-r", "usagectx"])
    #expect(removed.code == 0, "\(removed.output)")
    let left = FileManager.default.enumerator(atPath: root + "/usr")?.allObjects ?? []
    #expect(left.isEmpty, "left behind: \(left)")
    try? FileManager.default.removeItem(atPath: scratch)
  }
}
