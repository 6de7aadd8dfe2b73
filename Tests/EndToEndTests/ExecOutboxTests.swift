import Foundation
import JSON
import Testing

/// Changes to metrics held by an exec plugin go through the durable outbox: an error the plugin says (or, in version 1,
/// does not say) is transient keeps them and sends them again, also after a restart; a permanent one settles them;
/// a full outbox refuses new ones; the plugin gets each change's labels and fields; the metric keeps its history,
/// breakdown and cost locally; a burst of 40,000 goes through.
@Suite("Exec outbox")
struct ExecOutboxTests {
  /// A plugin directory with the fixture holding `seats` (and, when asked, the standard `tokens` as a source) in a
  /// backend file, a state directory, and a configuration with a short retry backoff.
  struct Setup {
    let plugins: URL
    let backend: URL
    let reportsDown: URL
    let reports: URL
    let state: String
    let config: URL

    init(backend text: String = #"{"seats": 0}"#) throws {
      plugins = try PluginFixtures.makeDirectory()
      backend = plugins.appendingPathComponent("backend.json")
      reportsDown = plugins.appendingPathComponent("reports-down")
      reports = plugins.appendingPathComponent("reports.jsonl")
      state = DurabilityTests.stateDirectory()
      config = plugins.appendingPathComponent("config.json")
      try Data(text.utf8).write(to: backend)
      try Data(#"{"refresh": {"backoffBaseMs": 50, "backoffCapMs": 200}}"#.utf8).write(to: config)
    }

    /// Writes the fixture's manifest with `arguments` after the backend's.
    /// Without `backed`, the fixture keeps no state (its `metric/fetch` answers 7).
    func manifest(_ arguments: [String], backed: Bool = true, timeoutMs: Int = 60_000) throws {
      try ExecPluginTests.fixtureManifest(
        "billing", in: plugins,
        arguments: ["--metric", "seats"] + (backed ? ["--state", backend.path, "--dedupe-keys"] : []) + arguments,
        extra: #", "timeoutMs": \#(timeoutMs), "env": {"FIXTURE_REPORTS": "\#(reports.path)"}"#)
    }

    func sidecar(_ extra: [String] = [], defaultPlugins: Bool = false) throws -> SidecarProcess {
      try SidecarProcess(
        arguments: ["--state", state, "--config", config.path, "--plugins", plugins.path]
          + (defaultPlugins ? [] : ["--no-default-plugins"]) + extra)
    }

    func backendValue(_ metric: String) throws -> Int64? {
      try JSONData(parsing: String(contentsOf: backend, encoding: .utf8))[metric]?.int
    }

    func reportLines() -> [JSONData] {
      let text = (try? String(contentsOf: reports, encoding: .utf8)) ?? ""
      return text.split(separator: "\n").compactMap { try? JSONData(parsing: String($0)) }
    }
  }

  static func metric(_ sidecar: SidecarProcess, _ name: String) throws -> JSONData {
    try #require(try sidecar.call("usage/get", ["metrics": .array([.string(name)])])["metrics"]?[name])
  }

  @Test(
    "a transient error keeps the change and sends it again until taken, across a restart, without drift",
    arguments: [["--protocol-version", "2"], ["--reports-down-plain"]])
  func transientErrorsRetry(arguments: [String]) throws {
    let setup = try Setup()
    try setup.manifest(["--reports-down-file", setup.reportsDown.path] + arguments)
    FileManager.default.createFile(atPath: setup.reportsDown.path, contents: Data())
    let first = try setup.sidecar()
    #expect(try first.call("usage/increment", ["metric": "seats", "amount": 2, "key": "a"])["used"] == 2)
    #expect(try first.call("usage/increment", ["metric": "seats", "amount": 3])["used"] == 5)
    // Refused (transiently) at least once, and sent again: still counted, still unconfirmed.
    #expect(try DurabilityTests.eventually(30) { setup.reportLines().count >= 4 })
    let waiting = try Self.metric(first, "seats")
    #expect(waiting["used"] == 5)
    #expect(waiting["sync"]?["unconfirmed"] == 5)
    first.closeInput()
    #expect(try first.waitForExit() == 0)
    #expect(try setup.backendValue("seats") == 0)

    // Restarted while the authority still refuses: the changes are counted again and keep being sent.
    let second = try setup.sidecar()
    #expect(try Self.metric(second, "seats")["sync"]?["unconfirmed"] == 5)
    try FileManager.default.removeItem(at: setup.reportsDown)
    #expect(try DurabilityTests.eventually(60) { try Self.metric(second, "seats")["sync"]?["unconfirmed"] == 0 })
    #expect(try setup.backendValue("seats") == 5)
    _ = try second.call("usage/refresh", ["metrics": ["seats"], "force": true])
    #expect(try Self.metric(second, "seats")["used"] == 5)
    let drifts = second.takeNotifications().filter { $0["method"] == "usage/drift" }
    #expect(drifts.allSatisfy { ($0["params"]?["delta"]?.int ?? 0) >= 0 }, "\(drifts)")
    second.closeInput()
    #expect(try second.waitForExit() == 0)

    // Nothing is left to send: a third session sends nothing more, and the backend keeps 5.
    let sent = setup.reportLines().count
    let third = try setup.sidecar()
    #expect(try Self.metric(third, "seats")["sync"]?["unconfirmed"] == 0)
    third.closeInput()
    #expect(try third.waitForExit() == 0)
    #expect(setup.reportLines().count == sent)
    #expect(try setup.backendValue("seats") == 5)
  }

  @Test("a permanent error settles the change as refused: it is not sent again, also not after a restart")
  func permanentErrorsRefuse() throws {
    let setup = try Setup()
    try setup.manifest(["--refuse-reports", "--report-error-retry", "false"])
    let first = try setup.sidecar()
    #expect(try first.call("usage/increment", ["metric": "seats", "amount": 4])["used"] == 4)
    #expect(try DurabilityTests.eventually(30) { try Self.metric(first, "seats")["sync"]?["unconfirmed"] == 0 })
    first.closeInput()
    #expect(try first.waitForExit() == 0)
    #expect(setup.reportLines().count == 1)
    let second = try setup.sidecar()
    // The authority's own number: the refused change was never written there.
    _ = try second.call("usage/refresh", ["metrics": ["seats"], "force": true])
    let seats = try Self.metric(second, "seats")
    #expect(seats["used"] == 0)
    #expect(seats["sync"]?["unconfirmed"] == 0)
    second.closeInput()
    #expect(try second.waitForExit() == 0)
    #expect(setup.reportLines().count == 1)
  }

  @Test("a full outbox refuses new changes to the remote metric with -32052; other metrics go on; room frees it")
  func outboxLimit() throws {
    let setup = try Setup()
    try setup.manifest(["--reports-down-file", setup.reportsDown.path, "--protocol-version", "2"])
    FileManager.default.createFile(atPath: setup.reportsDown.path, contents: Data())
    let sidecar = try setup.sidecar(["--outbox-limit", "3"], defaultPlugins: true)
    for amount in 1...3 {
      #expect(try sidecar.call("usage/increment", ["metric": "seats"])["used"] == .int(Int64(amount)))
    }
    let refused = try sidecar.request("usage/increment", ["metric": "seats"])
    #expect(refused["error"]?["code"] == -32052)
    #expect(refused["error"]?["message"] == "Outbox full")
    #expect(refused["error"]?["data"]?["reason"] == "outboxFull")
    #expect(refused["error"]?["data"]?["metric"] == "seats")
    #expect(refused["error"]?["data"]?["limit"] == 3)
    #expect(try Self.metric(sidecar, "seats")["used"] == 3)
    // A local metric is not held back.
    #expect(try sidecar.call("usage/increment", ["metric": "documents"])["used"] == 1)
    try FileManager.default.removeItem(at: setup.reportsDown)
    #expect(try DurabilityTests.eventually(60) { try Self.metric(sidecar, "seats")["sync"]?["unconfirmed"] == 0 })
    #expect(try sidecar.call("usage/increment", ["metric": "seats"])["used"] == 4)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("tokens held by a version-2 plugin: labels, fields and cost reach it; history, breakdown and cost stay local")
  func tokensKeepTheirDetail() throws {
    let setup = try Setup(backend: #"{"seats": 0, "tokens": 0}"#)
    try setup.manifest(["--source", "tokens", "--protocol-version", "2"])
    let first = try setup.sidecar(defaultPlugins: true)
    let answer = try first.call(
      "usage/increment",
      [
        "metric": "tokens", "input": 1200, "output": 350, "labels": ["model": "gpt-4o", "provider": "openai"],
        "key": "r1",
      ])
    #expect(answer["used"] == 1550)
    #expect(try DurabilityTests.eventually(30) { try Self.metric(first, "tokens")["sync"]?["unconfirmed"] == 0 })
    let change = try #require(setup.reportLines().first)
    #expect(change["metric"] == "tokens")
    #expect(change["delta"] == 1550)
    #expect(change["key"] == "r1")
    #expect(change["labels"] == ["model": "gpt-4o", "provider": "openai"])
    // Every field of the metric, by name (the tokens metric's cache fields were not used here).
    #expect(change["fields"] == ["input": 1200, "output": 350, "cacheRead": 0, "cacheWrite": 0])
    #expect((change["cost"]?.number ?? 0) > 0)
    #expect(try setup.backendValue("tokens") == 1550)
    let cost = try #require(try Self.metric(first, "tokens")["cost"]?.number)
    first.closeInput()
    #expect(try first.waitForExit() == 0)

    // Restarted: the per-model breakdown and the cost come back from the local ledger; the history has the change.
    let second = try setup.sidecar(defaultPlugins: true)
    let tokens = try Self.metric(second, "tokens")
    #expect(tokens["used"] == 1550)
    #expect(tokens["cost"]?.number == cost)
    #expect(tokens["byModel"]?["gpt-4o"]?["input"] == 1200)
    let history = try second.call("usage/history", ["metric": "tokens", "groupBy": "model"])
    let rows = history["rows"]?.array ?? []
    #expect(rows.contains { $0["group"] == "gpt-4o" && $0["total"] == 1550 }, "\(history.jsonText)")
    second.closeInput()
    #expect(try second.waitForExit() == 0)
  }

  @Test("a burst of 40,000 pipelined increments of a metric held by a healthy plugin is answered and acknowledged")
  func burst() throws {
    let setup = try Setup()
    try setup.manifest(["--protocol-version", "2"], backed: false)
    let sidecar = try setup.sidecar()
    let count = 40_000
    // Written in slices that fit a pipe's buffer, each read back before the next: the test's single thread never
    // blocks writing while usagectx waits for its answers to be read.
    let slice = 400
    var last: JSONData = .null
    for start in stride(from: 1, through: count, by: slice) {
      var payload: [UInt8] = []
      for id in start..<min(count + 1, start + slice) {
        payload += Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"usage/increment","params":{"metric":"seats"}}"#.utf8)
        payload.append(0x0A)
      }
      try sidecar.sendRaw(payload)
      for _ in start..<min(count + 1, start + slice) { last = try sidecar.nextResponse(timeout: 120) }
    }
    // The fixture answers 7 before the burst.
    #expect(last["result"]?["used"] == .int(Int64(count) + 7))
    #expect(try DurabilityTests.eventually(120) { try Self.metric(sidecar, "seats")["sync"]?["unconfirmed"] == 0 })
    // Each change reached the plugin once.
    let seqs = setup.reportLines().compactMap { $0["seq"]?.int }
    #expect(seqs.count == count)
    #expect(Set(seqs).count == count)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }
}
