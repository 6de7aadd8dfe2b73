import Foundation
import JSON
import Testing

/// Plugins loaded at run time through the C ABI: the standard four from the libraries `swift build` produced, a
/// third party's plugin written in C, and every way loading can fail without stopping the sidecar.
@Suite("Plugins")
struct PluginTests {
  static func plugins(_ sidecar: SidecarProcess) throws -> [JSONData] {
    try #require(try sidecar.call("plugins/list")["plugins"]?.array)
  }

  static func entry(_ plugins: [JSONData], named name: String) -> JSONData? {
    plugins.first { $0["name"] == .string(name) }
  }

  @Test(
    "the standard four are loaded from their shared libraries, like any plugin",
    arguments: SidecarProcess.Framing.allCases)
  func standardPlugins(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let plugins = try Self.plugins(sidecar)
    for name in ["documents", "storage", "requests", "tokens"] {
      let entry = try #require(Self.entry(plugins, named: name), "\(name) missing from \(plugins)")
      #expect(entry["kind"] == "library")
      #expect(entry["state"] == "loaded")
      #expect(entry["abi"] == 1)
      #expect(entry["metrics"] == [.string(name)])
      #expect(entry["path"]?.string?.hasSuffix("/libusagectx-\(name).so") == true)
      #expect(entry["lastError"] == .null)
    }
    // The metrics behave as before: served through the loaded plugins.
    let tokens = try sidecar.call(
      "usage/increment", ["metric": "tokens", "input": 1000, "output": 500, "labels": ["model": "gpt-4o"]])
    #expect(tokens["used"] == 1500)
    #expect(tokens["cost"]?.number.map { abs($0 - 0.0075) < 1e-12 } == true)
  }

  @Test("a plugin written in C, built against the header alone, serves a metric end to end")
  func cPlugin() throws {
    let directory = try PluginFixtures.makeDirectory()
    try PluginFixtures.build("widgets.so", in: directory)
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path])
    let entry = try #require(Self.entry(try Self.plugins(sidecar), named: "widgets"))
    #expect(entry["state"] == "loaded")
    #expect(entry["version"] == "0.1.0")
    #expect(entry["kind"] == "library")
    // The plugin's hook measures: 2 boxes of 3.
    let state = try sidecar.call("usage/increment", ["metric": "widgets", "boxes": 2])
    #expect(state["used"] == 6)
    #expect(state["limit"] == 10)
    #expect(state["unit"] == "widgets")
    // Its options come from the configuration.
    _ = try sidecar.call("initialize", ["config": ["plugins": ["widgets": ["per_box": 5]]]])
    #expect(try sidecar.call("usage/increment", ["metric": "widgets", "boxes": 1])["used"] == 11)
    // A refusal by the hook, and fields the metric does not declare, are -32602 naming the field.
    let refused = try sidecar.request("usage/increment", ["metric": "widgets", "boxes": 2000])
    #expect(refused["error"]?["code"] == -32602)
    let foreign = try sidecar.request("usage/increment", ["metric": "widgets", "input": 1])
    #expect(foreign["error"]?["data"]?["field"] == "input")
    let misplaced = try sidecar.request("usage/increment", ["metric": "documents", "boxes": 1])
    #expect(misplaced["error"]?["data"]?["field"] == "boxes")
    #expect(try sidecar.call("usage/get", ["metrics": ["widgets"]])["metrics"]?["widgets"]?["used"] == 11)
  }

  @Test("USAGECTX_PLUGIN_PATH adds plugin directories")
  func environmentPath() throws {
    let directory = try PluginFixtures.makeDirectory()
    try PluginFixtures.build("widgets.so", in: directory)
    let sidecar = try SidecarProcess(environment: ["USAGECTX_PLUGIN_PATH": "/nonexistent-usagectx:" + directory.path])
    #expect(Self.entry(try Self.plugins(sidecar), named: "widgets")?["state"] == "loaded")
  }

  @Test("every failure is reported in plugins/list and the sidecar serves the plugins that loaded")
  func failures() throws {
    let directory = try PluginFixtures.makeDirectory()
    try PluginFixtures.build("a-future.so", in: directory, defines: ["-DWIDGETS_ABI=99", "-DWIDGETS_NAME=future"])
    try PluginFixtures.build("b-noentry.so", in: directory, defines: ["-DWIDGETS_NO_ENTRY"])
    try PluginFixtures.build("c-widgets.so", in: directory)
    try PluginFixtures.build("d-again.so", in: directory)
    try PluginFixtures.build(
      "e-clash.so", in: directory, defines: ["-DWIDGETS_METRIC=widgets", "-DWIDGETS_NAME=clash"])
    try Data("not a library".utf8).write(to: directory.appendingPathComponent("f-garbage.so"))
    try FileManager.default.createSymbolicLink(
      atPath: directory.appendingPathComponent("g-missing.so").path, withDestinationPath: "/nonexistent/libgone.so")
    let missing = directory.appendingPathComponent("no-such-directory").path
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path, "--plugins", missing])
    let plugins = try Self.plugins(sidecar)
    func failure(_ path: String) -> String? {
      let entry = plugins.first { $0["path"]?.string?.hasSuffix(path) == true }
      #expect(entry?["state"] == "failed", "\(path): \(entry?.jsonText ?? "absent")")
      return entry?["lastError"]?.string
    }
    #expect(failure("a-future.so")?.contains("ABI 99") == true)
    #expect(failure("b-noentry.so")?.contains("usagectx_plugin_entry") == true)
    #expect(failure("d-again.so")?.contains("already loaded") == true)
    #expect(failure("e-clash.so")?.contains("metric widgets is already provided by plugin widgets") == true)
    #expect(failure("f-garbage.so")?.contains("cannot load library") == true)
    #expect(failure("g-missing.so")?.contains("cannot load library") == true)
    #expect(failure("no-such-directory")?.contains("cannot read directory") == true)
    // What did load still serves.
    #expect(Self.entry(plugins, named: "widgets")?["state"] == "loaded")
    #expect(try sidecar.call("usage/increment", ["metric": "widgets", "boxes": 1])["used"] == 3)
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)
    // Each failure was also logged.
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    #expect(sidecar.stderrText.contains("b-noentry.so"))
  }

  @Test("options a plugin refuses fail that plugin alone, naming the setting")
  func refusedOptions() throws {
    let directory = try PluginFixtures.makeDirectory()
    try PluginFixtures.build("widgets.so", in: directory)
    let config = directory.appendingPathComponent("config.json")
    try Data(#"{"plugins": {"widgets": {"per_box": -1}}}"#.utf8).write(to: config)
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path, "--config", config.path])
    let entry = try #require(Self.entry(try Self.plugins(sidecar), named: "widgets"))
    #expect(entry["state"] == "failed")
    #expect(entry["lastError"]?.string?.contains("config.plugins.widgets.per_box") == true)
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)
  }

  @Test("the configuration file sets limits and tier, and a bad one is refused with its path and setting")
  func configurationFile() throws {
    let directory = try PluginFixtures.makeDirectory()
    let good = directory.appendingPathComponent("good.json")
    try Data(#"{"tier": "pro", "metrics": {"documents": {"limits": {"pro": 7}}}}"#.utf8).write(to: good)
    let sidecar = try SidecarProcess(arguments: ["--config", good.path])
    let snapshot = try sidecar.call("usage/get", ["metrics": ["documents"]])
    #expect(snapshot["tier"] == "pro")
    #expect(snapshot["metrics"]?["documents"]?["limit"] == 7)

    let bad = directory.appendingPathComponent("bad.json")
    try Data(#"{"metrics": {"documents": {"period": "weekly"}}}"#.utf8).write(to: bad)
    let refused = try SidecarProcess(arguments: ["--config", bad.path])
    #expect(try refused.waitForExit() != 0)
    #expect(refused.stderrText.contains("bad.json"))
    #expect(refused.stderrText.contains("config.metrics.documents.period"))
  }

  @Test("usagectx plugins prints the table for a person")
  func pluginsCommand() throws {
    let directory = try PluginFixtures.makeDirectory()
    try PluginFixtures.build("widgets.so", in: directory)
    try PluginFixtures.build("noentry.so", in: directory, defines: ["-DWIDGETS_NO_ENTRY"])
    let sidecar = try SidecarProcess(arguments: ["plugins", "--plugins", directory.path])
    let output = String(decoding: try sidecar.rawOutputToEnd(), as: UTF8.self)
    #expect(try sidecar.waitForExit() == 0)
    #expect(output.hasPrefix("NAME"))
    for expected in ["documents", "storage", "requests", "tokens", "widgets", "loaded", "failed", "noentry.so"] {
      #expect(output.contains(expected), "\(expected) missing from:\n\(output)")
    }
  }
}
