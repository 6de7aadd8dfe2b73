import Foundation
import JSON
import Testing

/// Authoritative sources: the documents and storage plugins read a directory, and usagectx follows what is on disk.
@Suite("Sources")
struct SourceTests {
  /// A temporary directory with a configuration file that points documents (Markdown only) and storage (all
  /// files) at it.
  struct Workspace {
    let directory: URL
    let files: URL
    let config: URL

    init() throws {
      directory = try PluginFixtures.makeDirectory()
      files = directory.appendingPathComponent("files")
      try FileManager.default.createDirectory(
        at: files.appendingPathComponent("notes"), withIntermediateDirectories: true)
      config = directory.appendingPathComponent("config.json")
      let text = """
        {"plugins": {"documents": {"directory": "\(files.path)", "patterns": ["*.md"]},
                     "storage": {"directory": "\(files.path)"}}}
        """
      try Data(text.utf8).write(to: config)
    }

    func write(_ name: String, bytes: Int) throws {
      try Data(repeating: 0x61, count: bytes).write(to: files.appendingPathComponent(name))
    }

    func remove(_ name: String) throws {
      try FileManager.default.removeItem(at: files.appendingPathComponent(name))
    }
  }

  static func usage(_ result: JSONData, _ metric: String) -> JSONData? { result["metrics"]?[metric]?["used"] }

  @Test("documents and storage follow files created and deleted on disk", arguments: SidecarProcess.Framing.allCases)
  func followsDisk(framing: SidecarProcess.Framing) throws {
    let workspace = try Workspace()
    try workspace.write("a.md", bytes: 10)
    try workspace.write("notes/b.md", bytes: 20)
    try workspace.write("c.txt", bytes: 5)
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--config", workspace.config.path])
    // The session starts from what is on disk.
    let start = try sidecar.call("usage/get")
    #expect(Self.usage(start, "documents") == 2)
    #expect(Self.usage(start, "storage") == 35)

    try workspace.write("notes/d.md", bytes: 100)
    try workspace.remove("c.txt")
    // Within the dedupe window of the start-up read, only a forced refresh reads the disk again.
    let grown = try sidecar.call("usage/refresh", ["metrics": ["documents", "storage"], "force": true])
    #expect(Self.usage(grown, "documents") == 3)
    #expect(Self.usage(grown, "storage") == 130)

    try workspace.remove("a.md")
    try workspace.remove("notes/b.md")
    let shrunk = try sidecar.call("usage/refresh", ["force": true])
    #expect(Self.usage(shrunk, "documents") == 1)
    #expect(Self.usage(shrunk, "storage") == 100)
    // Metrics without a source are left as they are.
    #expect(Self.usage(shrunk, "requests") == 0)
  }

  @Test("initialize pointing the plugins at a directory answers with what is on disk there")
  func initializeReadsNewSources() throws {
    let workspace = try Workspace()
    try workspace.write("a.md", bytes: 10)
    try workspace.write("b.md", bytes: 20)
    let sidecar = try SidecarProcess()
    let config: JSONData = [
      "plugins": [
        "documents": ["directory": .string(workspace.files.path), "patterns": ["*.md"]],
        "storage": ["directory": .string(workspace.files.path)],
      ]
    ]
    let initialized = try sidecar.call("initialize", ["config": config])
    #expect(Self.usage(initialized["snapshot"] ?? .null, "documents") == 2)
    #expect(Self.usage(initialized["snapshot"] ?? .null, "storage") == 30)
    // A new source is not a drift.
    #expect(
      UsageSemanticsTests.named("usage/drift", try UsageSemanticsTests.notificationsUntilSentinel(sidecar)).isEmpty)
  }

  @Test("the authority wins over optimistic counts")
  func authorityWins() throws {
    let workspace = try Workspace()
    try workspace.write("a.md", bytes: 1)
    let sidecar = try SidecarProcess(arguments: ["--config", workspace.config.path])
    #expect(try sidecar.call("usage/increment", ["metric": "documents", "amount": 5])["used"] == 6)
    // A local change makes the last read worth repeating: no force needed.
    let refreshed = try sidecar.call("usage/refresh", ["metrics": ["documents"]])
    #expect(Self.usage(refreshed, "documents") == 1)
  }

  @Test("a source that fails keeps the last good numbers, marks the metric in error, and recovers")
  func failingSource() throws {
    let workspace = try Workspace()
    try workspace.write("a.md", bytes: 7)
    let sidecar = try SidecarProcess(arguments: ["--config", workspace.config.path])
    // The first answer comes after the start-up read.
    #expect(Self.usage(try sidecar.call("usage/get"), "documents") == 1)
    let moved = workspace.directory.appendingPathComponent("moved")
    try FileManager.default.moveItem(at: workspace.files, to: moved)
    let failed = try sidecar.call("usage/refresh", ["metrics": ["documents", "storage"], "force": true])
    #expect(Self.usage(failed, "documents") == 1)
    #expect(Self.usage(failed, "storage") == 7)
    #expect(failed["metrics"]?["documents"]?["error"]?.string?.contains(workspace.files.path) == true)
    // usage/resetError clears the error state; the numbers stay.
    let cleared = try sidecar.call("usage/resetError", ["metrics": ["documents"]])
    #expect(cleared["metrics"]?["documents"]?["error"] == nil)
    #expect(Self.usage(cleared, "documents") == 1)
    // Back on disk: the next refresh clears the error by itself.
    try FileManager.default.moveItem(at: moved, to: workspace.files)
    try workspace.write("b.md", bytes: 3)
    let recovered = try sidecar.call("usage/refresh", ["metrics": ["storage"], "force": true])
    #expect(recovered["metrics"]?["storage"]?["error"] == nil)
    #expect(Self.usage(recovered, "storage") == 10)
  }

  @Test("a source option the plugin refuses fails that plugin and names the setting")
  func badSourceOptions() throws {
    let directory = try PluginFixtures.makeDirectory()
    let config = directory.appendingPathComponent("config.json")
    try Data(#"{"plugins": {"documents": {"directory": "relative/path"}}}"#.utf8).write(to: config)
    let sidecar = try SidecarProcess(arguments: ["--config", config.path])
    let plugins = try #require(try sidecar.call("plugins/list")["plugins"]?.array)
    let documents = try #require(plugins.first { $0["name"] == "documents" })
    #expect(documents["state"] == "failed")
    #expect(documents["lastError"]?.string?.contains("config.plugins.documents.directory") == true)
    #expect(try sidecar.call("usage/increment", ["metric": "storage", "amount": 3])["used"] == 3)
  }
}
