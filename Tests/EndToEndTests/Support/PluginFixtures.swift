import Foundation
import TestSupport

/// Builds the C fixture plugin (`Tests/Fixtures/plugins/widgets.c`) with the system C compiler, against the plugin
/// header alone, into a fresh temporary directory per call.
enum PluginFixtures {
  /// The repository's root, found from this file's location.
  static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// A new empty directory under the system's temporary directory.
  static func makeDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "usagectx-plugins-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
  }

  /// Compiles the widgets fixture with extra `defines` into `directory/fileName`.
  @discardableResult
  static func build(_ fileName: String, in directory: URL, defines: [String] = []) throws -> URL {
    let output = directory.appendingPathComponent(fileName)
    let compiler = try SpawnedProcess(
      "cc",
      ["-shared", "-fPIC", "-O1", "-I", repositoryRoot.appendingPathComponent("protocol").path] + defines + [
        "-o", output.path, repositoryRoot.appendingPathComponent("Tests/Fixtures/plugins/widgets.c").path,
      ])
    let status = try compiler.wait().code
    guard status == 0 else {
      throw NSError(domain: "PluginFixtures", code: Int(status))
    }
    return output
  }
}
