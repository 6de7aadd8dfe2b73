import Foundation
import JSON
import Testing

/// Exec plugins end to end: programs described by `*.plugin.json` manifests in a `--plugins` directory, spoken to
/// over their stdio. The fixture program (`Tests/Fixtures/plugins/exec/fixture.py`) serves or fails as its
/// arguments ask; the example in `protocol/examples/plugins/` is run as shipped.
@Suite("Exec plugins")
struct ExecPluginTests {
  static let fixture = PluginFixtures.repositoryRoot.appendingPathComponent("Tests/Fixtures/plugins/exec/fixture.py")

  /// Writes `NAME.plugin.json` in `directory` with `manifest` as its text.
  static func manifest(_ name: String, in directory: URL, _ manifest: String) throws {
    try Data(manifest.utf8).write(to: directory.appendingPathComponent("\(name).plugin.json"))
  }

  /// A manifest running the fixture (by absolute path) with `arguments`.
  static func fixtureManifest(_ name: String, in directory: URL, arguments: [String], extra: String = "") throws {
    let args = try String(
      decoding: JSONSerialization.data(withJSONObject: ["--name", name] + arguments), as: UTF8.self)
    try manifest(name, in: directory, #"{"command": "\#(fixture.path)", "args": \#(args)\#(extra)}"#)
  }

  static func entry(_ sidecar: SidecarProcess, _ name: String) throws -> JSONData? {
    PluginTests.entry(try PluginTests.plugins(sidecar), named: name)
  }

  @Test("a working exec plugin is listed, serves its metric, and its stderr reaches usagectx's log")
  func workingPlugin() throws {
    let directory = try PluginFixtures.makeDirectory()
    // A command relative to the manifest's directory.
    try FileManager.default.copyItem(at: Self.fixture, to: directory.appendingPathComponent("fixture.py"))
    try Self.manifest(
      "billing", in: directory, #"{"command": "./fixture.py", "args": ["--name", "billing", "--metric", "seats"]}"#)
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path])

    let entry = try #require(try Self.entry(sidecar, "billing"))
    #expect(entry["kind"] == "exec")
    #expect(entry["state"] == "loaded")
    #expect(entry["version"] == "2.1.0")
    #expect(entry["abi"] == .null)
    #expect(entry["metrics"] == ["seats"])
    #expect(entry["path"]?.string?.hasSuffix("/billing.plugin.json") == true)
    #expect(entry["lastError"] == .null)

    let seats = try #require(try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"])
    #expect(seats["limit"] == 10)
    #expect(seats["unit"] == "seats")
    let before = try #require(seats["used"]?.int)
    // Increments are optimistic and local.
    #expect(try sidecar.call("usage/increment", ["metric": "seats", "amount": 2])["used"] == .int(before + 2))
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)

    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    let log = sidecar.stderrText
    #expect(log.contains("plugin billing: fixture["), "\(log)")
    #expect(log.contains("started in mode serve"))
    // The child started with no blocked signals, though usagectx blocks SIGTERM and SIGINT.
    #expect(log.contains("blocked signals 0000000000000000"))
  }

  @Test("an exec plugin is the authority of its metrics and of those it names as sources; changes are written through")
  func sourcesAndReports() throws {
    let directory = try PluginFixtures.makeDirectory()
    let reports = directory.appendingPathComponent("reports.jsonl")
    try Self.fixtureManifest(
      "billing", in: directory, arguments: ["--metric", "seats", "--source", "tokens", "--value", "42"],
      extra: #", "env": {"FIXTURE_REPORTS": "\#(reports.path)"}"#)
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path])
    #expect(try Self.entry(sidecar, "billing")?["sources"] == ["tokens"])
    // The start-up read: the plugin's own metric and the one it is the source of come from it.
    let start = try sidecar.call("usage/get", ["metrics": ["seats", "tokens", "requests"]])
    #expect(start["metrics"]?["seats"]?["used"] == 42)
    #expect(start["metrics"]?["tokens"]?["used"] == 42)
    #expect(start["metrics"]?["requests"]?["used"] == 0)

    // Local changes apply at once and are written through to the authority.
    let tokens = try sidecar.call(
      "usage/increment", ["metric": "tokens", "input": 10, "output": 5, "labels": ["model": "gpt-4o"]])
    #expect(tokens["used"] == 57)
    #expect(
      try sidecar.call("usage/increment", ["metric": "seats", "amount": 2, "key": "seat-order-17"])["used"] == 44)
    var written: [JSONData] = []
    let deadline = Date().addingTimeInterval(SidecarProcess.defaultTimeout)
    while written.count < 2 && Date() < deadline {
      let text = (try? String(contentsOf: reports, encoding: .utf8)) ?? ""
      written = text.split(separator: "\n").compactMap { try? JSONData(parsing: String($0)) }
      if written.count < 2 { usleep(20_000) }
    }
    #expect(written.contains { $0["metric"] == "tokens" && $0["delta"] == 15 })
    // The client's idempotency key travels with the change, so the authority can apply a retry once.
    #expect(written.contains { $0["metric"] == "seats" && $0["delta"] == 2 && $0["key"] == "seat-order-17" })

    // Once the plugin has acknowledged both changes, a refresh shows that it did not apply them (this fixture's
    // value is fixed): the authority wins.
    var confirmed = false
    while !confirmed && Date() < deadline {
      let now = try sidecar.call("usage/get", ["metrics": ["tokens", "seats"]])
      confirmed = ["tokens", "seats"].allSatisfy { now["metrics"]?[$0]?["sync"]?["unconfirmed"] == 0 }
      if !confirmed { usleep(20_000) }
    }
    #expect(confirmed)
    let refreshed = try sidecar.call("usage/refresh", ["metrics": ["tokens", "seats"]])
    #expect(refreshed["metrics"]?["tokens"]?["used"] == 42)
    #expect(refreshed["metrics"]?["seats"]?["used"] == 42)
  }

  @Test("the example in protocol/examples/plugins loads and serves")
  func example() throws {
    let examples = PluginFixtures.repositoryRoot.appendingPathComponent("protocol/examples/plugins")
    let sidecar = try SidecarProcess(arguments: ["--plugins", examples.path])
    let entry = try #require(try Self.entry(sidecar, "example"))
    #expect(entry["kind"] == "exec")
    #expect(entry["state"] == "loaded")
    #expect(entry["version"] == "1.0.0")
    #expect(entry["metrics"] == ["seats"])
    let seats = try #require(try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"])
    #expect(seats["limit"] == 3)
    let before = try #require(seats["used"]?.int)
    #expect(try sidecar.call("usage/increment", ["metric": "seats"])["used"] == .int(before + 1))
  }

  @Test("every kind of failure is reported in plugins/list and logged, and everything else keeps serving")
  func failures() throws {
    let directory = try PluginFixtures.makeDirectory()
    try Self.manifest("bad-json", in: directory, "{nope")
    try Self.manifest("no-command", in: directory, #"{"args": []}"#)
    try Self.manifest("unknown-key", in: directory, #"{"command": "sh", "colour": "red"}"#)
    try Self.manifest("not-found", in: directory, #"{"command": "./missing.py"}"#)
    try Self.manifest("not-on-path", in: directory, #"{"command": "no-such-program-usagectx"}"#)
    try Self.fixtureManifest("crashes", in: directory, arguments: ["--mode", "crash-at-start"])
    try Self.fixtureManifest("garbage", in: directory, arguments: ["--mode", "garbage"])
    try Self.fixtureManifest("hangs", in: directory, arguments: ["--mode", "hang"], extra: #", "timeoutMs": 300"#)
    try Self.fixtureManifest("works", in: directory, arguments: ["--metric", "seats"])
    let started = Date()
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path])
    let plugins = try PluginTests.plugins(sidecar)
    // The programs start together, so startup is bounded: the one that hangs costs its timeout once.
    #expect(Date().timeIntervalSince(started) < 5)

    func failure(_ name: String) -> String {
      let entry = plugins.first { $0["path"]?.string?.hasSuffix("/\(name).plugin.json") == true }
      #expect(entry?["kind"] == "exec", "\(name): \(entry?.jsonText ?? "absent")")
      #expect(entry?["state"] == "failed", "\(name): \(entry?.jsonText ?? "absent")")
      return entry?["lastError"]?.string ?? ""
    }
    #expect(failure("bad-json").hasPrefix("bad-json.plugin.json: not valid JSON"))
    #expect(failure("no-command") == #"no-command.plugin.json: "command" is missing"#)
    #expect(failure("unknown-key").hasPrefix(#"unknown-key.plugin.json: "colour" is not a manifest member"#))
    #expect(failure("not-found").contains("missing.py does not exist"))
    #expect(failure("not-on-path").hasSuffix("no-such-program-usagectx was not found on PATH"))
    #expect(failure("crashes") == "exited with status 3 before answering plugin/describe")
    #expect(failure("garbage").hasPrefix("wrote a line that is not JSON"))
    #expect(failure("hangs") == "did not answer plugin/describe within 300 ms")

    // The rest serves.
    #expect(try Self.entry(sidecar, "works")?["state"] == "loaded")
    #expect(try sidecar.call("usage/increment", ["metric": "seats"])["used"]?.int != nil)
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    let log = sidecar.stderrText
    for name in ["bad-json", "no-command", "unknown-key", "not-found", "crashes", "garbage", "hangs"] {
      #expect(log.contains("\(name).plugin.json"), "\(name) not logged")
    }
    // The crashing program's own words reach the log too.
    #expect(log.contains("plugin crashes: fixture["))
    #expect(log.contains("failing on purpose"))
  }

  @Test("a program that crashes after describing itself is restarted; plugins/list shows it restarting, then loaded")
  func restart() throws {
    let directory = try PluginFixtures.makeDirectory()
    let marker = directory.appendingPathComponent("first-run")
    try Self.fixtureManifest(
      "flaky", in: directory,
      arguments: [
        "--metric", "seats", "--mode", "crash-later", "--crash-after-ms", "300", "--marker", marker.path,
        "--restart-delay-ms", "700",
      ],
      extra: #", "restartBaseMs": 100, "restartCapMs": 200"#)
    let sidecar = try SidecarProcess(arguments: ["--plugins", directory.path])
    #expect(try Self.entry(sidecar, "flaky")?["state"] == "loaded")

    func waitForState(_ state: JSONData) throws -> JSONData? {
      let deadline = Date().addingTimeInterval(5)
      while Date() < deadline {
        let entry = try Self.entry(sidecar, "flaky")
        if entry?["state"] == state { return entry }
        Thread.sleep(forTimeInterval: 0.03)
      }
      Issue.record("plugin flaky never reached state \(state.jsonText)")
      return nil
    }
    let down = try waitForState("restarting")
    #expect(down?["lastError"] == "exited with status 5")
    // The sidecar serves throughout, the plugin's metric included (locally), and the metric says it is in error.
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)
    let seats = try #require(try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"])
    #expect(seats["error"]?.string?.contains("plugin flaky exited with status 5") == true)

    let back = try waitForState("loaded")
    // Serving again clears the metric's error.
    var cleared = false
    let deadline = Date().addingTimeInterval(5)
    while !cleared && Date() < deadline {
      cleared = try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"]?["error"] == nil
      if !cleared { Thread.sleep(forTimeInterval: 0.03) }
    }
    #expect(cleared)
    #expect(back?["lastError"] == "exited with status 5")
    #expect(back?["metrics"] == ["seats"])
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    let log = sidecar.stderrText
    #expect(log.contains("plugin flaky exited with status 5; restarting in"))
    #expect(log.contains("(restarted)"))
    // The restarted child, spawned from a thread that blocks every signal, starts with none blocked.
    let masks = log.components(separatedBy: "blocked signals ").dropFirst()
    #expect(masks.count == 2)
    #expect(masks.allSatisfy { $0.hasPrefix("0000000000000000") })
  }
}
