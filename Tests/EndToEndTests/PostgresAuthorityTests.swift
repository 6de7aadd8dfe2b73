import Dispatch
import Foundation
import JSON
import TestSupport
import Testing

/// Several devices (sidecars with state directories of their own) on one account in PostgreSQL: changes answered at
/// once, other devices told by NOTIFY, limits and keys holding across devices, and no change lost or counted twice
/// while PostgreSQL goes away and comes back.
@Suite(
  "PostgreSQL authority", .serialized,
  .enabled(if: ThrowawayPostgres.available, Comment(rawValue: ThrowawayPostgres.unavailable ?? "")))
struct PostgresAuthorityTests {
  /// A configuration file: these limits (free tier), no periodic reads and no read after changes (only a
  /// notification can bring another device's change), a quick reconnection backoff.
  static func config(limits: [String: Int64] = [:]) throws -> String {
    let directory = DurabilityTests.stateDirectory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let metrics = JSONData.object(limits.map { ($0.key, ["limits": ["free": .int($0.value)]]) })
    let refresh: JSONData = [
      "intervalMs": nil, "mutationDebounceMs": 3_600_000, "refreshOnFocus": false, "backoffBaseMs": 50,
      "backoffCapMs": 300,
    ]
    let path = directory + "/config.json"
    try Data(JSONData.object([("metrics", metrics), ("refresh", refresh)]).jsonText.utf8)
      .write(to: URL(fileURLWithPath: path))
    return path
  }

  /// A device: a sidecar with a state directory of its own (or `state`) on `account`.
  static func device(_ url: String, _ account: String, config: String, state: String? = nil) throws -> SidecarProcess {
    try SidecarProcess(
      arguments: [
        "--authority", url, "--account", account, "--config", config, "--state",
        state ?? DurabilityTests.stateDirectory(),
      ])
  }

  /// Reads messages until a notification `method` whose params satisfy `matches` (notifications set aside before
  /// count too); fails past the deadline.
  @discardableResult
  static func notification(
    _ sidecar: SidecarProcess, _ method: String, timeout: Double = SidecarProcess.defaultTimeout,
    _ matches: (JSONData) -> Bool
  ) throws -> JSONData {
    for message in sidecar.takeNotifications() where message["method"] == .string(method) {
      if let params = message["params"], matches(params) { return params }
    }
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      let message = try sidecar.nextMessage(timeout: max(0.1, deadline.timeIntervalSinceNow))
      if message["method"] == .string(method), let params = message["params"], matches(params) { return params }
    }
  }

  static func used(_ sidecar: SidecarProcess, _ metric: String) throws -> Int64? {
    try sidecar.call("usage/get", ["metrics": [.string(metric)]])["metrics"]?[metric]?["used"]?.int
  }

  @Test("two devices: answered at once, the other device hears by NOTIFY (no periodic read), the sum stored")
  func twoDevicesConverge() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let config = try Self.config(limits: ["requests": 1_000])
    let first = try Self.device(postgres.url, account, config: config)
    let second = try Self.device(postgres.url, account, config: config)
    _ = try second.call("usage/subscribe", ["metrics": ["requests"]])
    for count in 1...5 {
      let answer = try first.call("usage/increment", ["metric": "requests"])
      #expect(answer["used"] == .int(Int64(count)))
      #expect(answer["authority"] == "postgres")
    }
    let drift = try Self.notification(second, "usage/drift") { $0["metric"] == "requests" && $0["authoritative"] == 5 }
    #expect(drift["source"]?.string?.isEmpty == false, "usage/drift names the device: \(drift.jsonText)")
    try Self.notification(second, "usage/changed") { $0["metrics"]?["requests"]?["used"] == 5 }
    // A model's tokens reach the other device with their fields and breakdown.
    _ = try second.call("usage/subscribe", ["metrics": ["tokens"]])
    _ = try first.call(
      "usage/increment", ["metric": "tokens", "input": 70, "output": 30, "labels": ["model": "gpt-4o"]])
    try Self.notification(second, "usage/changed") {
      $0["metrics"]?["tokens"]?["used"] == 100 && $0["metrics"]?["tokens"]?["byModel"]?["gpt-4o"]?["input"] == 70
    }
    // And back.
    _ = try first.call("usage/subscribe", ["metrics": ["requests"]])
    #expect(try second.call("usage/increment", ["metric": "requests", "amount": 3])["used"] == 8)
    try Self.notification(first, "usage/changed") { $0["metrics"]?["requests"]?["used"] == 8 }
    // A third device starting now reads exactly the sum.
    let third = try Self.device(postgres.url, account, config: config)
    #expect(try Self.used(third, "requests") == 8)
  }

  @Test("enforced race across two devices: never past the limit; the same keys through both: each counted once")
  func enforcedRaceAndKeys() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let config = try Self.config(limits: ["documents": 50])
    let devices = try (0..<2).map { _ in try Self.device(postgres.url, account, config: config) }
    let burst = SharedLedgerTests.burst(40) { _ in ["metric": "documents", "enforce": true] }
    for device in devices { try device.sendRaw(burst) }
    var applied: [Int64] = []
    var refused = 0
    for device in devices {
      for _ in 0..<40 {
        let answer = try device.nextResponse()
        if let used = answer["result"]?["used"]?.int {
          applied.append(used)
        } else {
          #expect(answer["error"]?["code"] == -32050)
          refused += 1
        }
      }
    }
    #expect(applied.sorted() == Array(1...50))
    #expect(refused == 30)
    // 100 keys, each sent through both devices at once.
    let keyed = SharedLedgerTests.burst(100, firstID: 1_000) { index in
      ["metric": "requests", "key": .string("key-\(index)")]
    }
    for device in devices { try device.sendRaw(keyed) }
    var answers: [[String: String]] = [[:], [:]]
    for (position, device) in devices.enumerated() {
      for _ in 0..<100 {
        let answer = try device.nextResponse()
        let id = try #require(answer["id"]?.int)
        answers[position]["key-\(id - 1_000)"] = try #require(answer["result"]).jsonText
      }
    }
    #expect(answers[0] == answers[1], "a key is answered identically by both devices")
    let fresh = try Self.device(postgres.url, account, config: config)
    #expect(try Self.used(fresh, "documents") == 50)
    #expect(try Self.used(fresh, "requests") == 100)
  }

  @Test("PostgreSQL stopped mid-load and restarted: answered offline meanwhile, every acknowledged change stored once")
  func stoppedMidLoad() throws {
    let postgres = try ThrowawayPostgres.start()
    defer { postgres.stop() }
    let account = ThrowawayPostgres.account()
    let config = try Self.config(limits: ["requests": 1_000_000])
    let state = DurabilityTests.stateDirectory()
    let device = try Self.device(postgres.url, account, config: config, state: state)
    #expect(try device.call("usage/increment", ["metric": "requests"])["authority"] == "postgres")
    let total = 1_000
    // Requests are written by a thread of their own while answers are read here, so neither pipe can fill up and
    // stall the other side; the second half is written once PostgreSQL is stopped.
    nonisolated(unsafe) let writer = device
    let stopped = DispatchSemaphore(value: 0)
    let written = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
      // A failed write shows as missing answers.
      try? writer.sendRaw(SharedLedgerTests.burst(total, firstID: 10) { _ in ["metric": "requests"] })  // harmless
      stopped.wait()
      // A failed write shows as missing answers.
      try? writer.sendRaw(SharedLedgerTests.burst(total, firstID: 10_000) { _ in ["metric": "requests"] })  // harmless
      written.signal()
    }
    var acknowledged: Int64 = 1
    for received in 0..<(2 * total) {
      if received == 100 {
        try postgres.pgCtl(["stop", "-m", "immediate"])
        stopped.signal()
      }
      let answer = try device.nextResponse()
      if answer["result"] != nil { acknowledged += 1 }
      // Increments sent after the stop are answered too, offline.
      if received >= total { #expect(answer["result"]?["authority"] == "offline") }
    }
    written.wait()
    #expect(acknowledged == Int64(2 * total + 1))
    let snapshot = try device.call("usage/get", ["metrics": ["requests"]])
    #expect(snapshot["metrics"]?["requests"]?["sync"]?["state"] == "error")
    let unconfirmed = try #require(snapshot["metrics"]?["requests"]?["sync"]?["unconfirmed"]?.int)
    #expect(unconfirmed >= Int64(total), "the changes answered offline are unconfirmed: \(snapshot.jsonText)")
    #expect(snapshot["metrics"]?["requests"]?["used"] == .int(acknowledged))
    // The device restarts while PostgreSQL is still down: it shows the last known usage and its offline changes.
    device.closeInput()
    #expect(try device.waitForExit() == 0)
    let restarted = try Self.device(postgres.url, account, config: config, state: state)
    #expect(try Self.used(restarted, "requests") == acknowledged)
    #expect(try restarted.call("usage/increment", ["metric": "requests"])["authority"] == "offline")
    acknowledged += 1
    // PostgreSQL is back: the restarted device delivers what waits; another device sees exactly the acknowledged sum.
    try postgres.pgCtl(["start"])
    let other = try Self.device(postgres.url, account, config: config)
    let subscribed = try other.call("usage/subscribe", ["metrics": ["requests"]])
    if subscribed["snapshot"]?["metrics"]?["requests"]?["used"] != .int(acknowledged) {
      try Self.notification(other, "usage/changed", timeout: 30) {
        $0["metrics"]?["requests"]?["used"] == .int(acknowledged)
      }
    }
    // Nothing waits any more: the restarted device's next change is decided against exactly that sum.
    let next = try restarted.call("usage/increment", ["metric": "requests"])
    #expect(next["authority"] == "postgres")
    #expect(next["used"] == .int(acknowledged + 1))
  }

  @Test("an unreachable PostgreSQL: changes answered offline, the metric in error; --no-state is refused")
  func unreachableAndNoState() throws {
    let unreachable = "postgresql:///postgres?host=/nonexistent-usagectx&user=postgres"
    let config = try Self.config()
    let device = try Self.device(unreachable, ThrowawayPostgres.account(), config: config)
    let answer = try device.call("usage/increment", ["metric": "requests", "amount": 2])
    #expect(answer["authority"] == "offline")
    #expect(answer["used"] == 2)
    let requests = try device.call("usage/get", ["metrics": ["requests"]])["metrics"]?["requests"]
    #expect(requests?["sync"]?["state"] == "error")
    #expect(requests?["sync"]?["unconfirmed"] == 2)
    let refused = try OneShotCommand.run(["call", "usage/get", "--no-state", "--authority", unreachable])
    #expect(refused.status == 2)
    #expect(refused.stderr.contains("--authority needs a state directory"), "\(refused.stderr)")
  }

  @Test("usagectx call on two devices, then report --authority and usage/history: every device's changes, by label")
  func callAndReport() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let config = try Self.config()
    // Two devices (state directories), two changes each: (device, input, output, provider, conversation).
    let devices = [DurabilityTests.stateDirectory(), DurabilityTests.stateDirectory()]
    let changes: [(Int, Int64, Int64, String, String)] = [
      (0, 100, 50, "openai", "c-1"), (0, 10, 5, "openai", "c-2"), (1, 200, 100, "azure", "c-2"),
      (1, 20, 10, "openai", "c-1"),
    ]
    let weekBefore = Self.isoWeek(Date())
    for (device, input, output, provider, conversation) in changes {
      let change: JSONData = [
        "metric": "tokens", "input": .int(input), "output": .int(output),
        "labels": ["model": "gpt-4o", "provider": .string(provider), "conversation": .string(conversation)],
      ]
      let run = try OneShotCommand.run([
        "call", "usage/increment", change.jsonText, "--authority", postgres.url, "--account", account, "--config",
        config, "--state", devices[device],
      ])
      #expect(run.status == 0, "\(run.stderr)")
      #expect(try JSONData(parsing: run.stdout)["authority"] == "postgres")
    }
    let weekAfter = Self.isoWeek(Date())
    let report = try OneShotCommand.run([
      "report", "--authority", postgres.url, "--account", account, "--by", "model", "--format", "json",
    ])
    #expect(report.status == 0, "\(report.stderr)")
    /// Rows as (group, total, changes, input, output), and their costs.
    func summed(_ rows: JSONData?) -> [Row] {
      (rows?.array ?? []).map { row in
        Row(
          group: row["group"]?.string, total: row["total"]?.int, changes: row["changes"]?.int,
          input: row["input"]?.int, output: row["output"]?.int, currency: row["currency"]?.string)
      }
    }
    func costs(_ rows: JSONData?) -> [Double] { (rows?.array ?? []).map { $0["cost"]?.number ?? 0 } }
    // Every change of both devices under the model: the amounts, the fields' sums and a cost from the price table.
    let allOfThem = [Row(group: "gpt-4o", total: 495, changes: 4, input: 330, output: 165)]
    #expect(summed(try JSONData(parsing: report.stdout)["rows"]) == allOfThem)
    #expect(costs(try JSONData(parsing: report.stdout)["rows"]).allSatisfy { $0 > 0 })
    let device = try Self.device(postgres.url, account, config: config)
    func history(_ groupBy: String, _ labels: JSONData? = nil) throws -> JSONData? {
      var params: [(String, JSONData)] = [("metric", "tokens"), ("groupBy", .string(groupBy))]
      if let labels { params.append(("labels", labels)) }
      return try device.call("usage/history", .object(params))["rows"]
    }
    #expect(summed(try history("model")) == allOfThem)
    // By provider and by conversation, against the hand sums of the four changes.
    #expect(
      summed(try history("provider")) == [
        Row(group: "azure", total: 300, changes: 1, input: 200, output: 100),
        Row(group: "openai", total: 195, changes: 3, input: 130, output: 65),
      ])
    let byConversation = try history("conversation")
    #expect(
      summed(byConversation) == [
        Row(group: "c-1", total: 180, changes: 2, input: 120, output: 60),
        Row(group: "c-2", total: 315, changes: 2, input: 210, output: 105),
      ])
    // One model's price: c-2's tokens cost 1.75 times c-1's.
    let conversationCosts = costs(byConversation)
    #expect(conversationCosts.count == 2 && conversationCosts[0] > 0)
    #expect(abs(conversationCosts[1] - 1.75 * conversationCosts[0]) < 1e-9, "\(conversationCosts)")
    // By week: all in this week (unless the run crossed a week's end).
    let byWeek = try history("week")
    let weeks = summed(byWeek)
    #expect(weeks.map { $0.total ?? 0 }.reduce(0, +) == 495)
    #expect(weeks.map { $0.changes ?? 0 }.reduce(0, +) == 4)
    #expect(weeks.map { $0.input ?? 0 }.reduce(0, +) == 330)
    #expect(weeks.map { $0.output ?? 0 }.reduce(0, +) == 165)
    if weekBefore == weekAfter {
      #expect(weeks == [Row(group: weekBefore, total: 495, changes: 4, input: 330, output: 165)])
    }
    // One conversation's usage, by provider: through usage/history and report --authority --label.
    let c2 = [
      Row(group: "azure", total: 300, changes: 1, input: 200, output: 100),
      Row(group: "openai", total: 15, changes: 1, input: 10, output: 5),
    ]
    #expect(summed(try history("provider", ["conversation": "c-2"])) == c2)
    #expect(
      summed(try history("provider", ["conversation": "c-1"]))
        == [Row(group: "openai", total: 180, changes: 2, input: 120, output: 60)])
    #expect(
      summed(try history("conversation", ["model": "gpt-4o", "provider": "azure"]))
        == [Row(group: "c-2", total: 300, changes: 1, input: 200, output: 100)])
    #expect(summed(try history("provider", ["conversation": "c-3"])) == [])
    let filtered = try OneShotCommand.run([
      "report", "--authority", postgres.url, "--account", account, "--by", "provider", "--label", "conversation=c-2",
      "--format", "json",
    ])
    #expect(filtered.status == 0, "\(filtered.stderr)")
    #expect(summed(try JSONData(parsing: filtered.stdout)["rows"]) == c2)
    // The fields, cost and breakdown are the account's too, summed over both devices.
    let tokens = try #require(try device.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    #expect(tokens["used"] == 495)
    #expect(tokens["input"] == 330)
    #expect(tokens["output"] == 165)
    #expect(tokens["byModel"]?["gpt-4o"]?["used"] == 495)
    #expect(tokens["byModel"]?["gpt-4o"]?["events"] == 4)
    // The tier is the account's: set on one device, another starts in it.
    #expect(try device.call("usage/setTier", ["tier": "pro"])["tier"] == "pro")
    let later = try Self.device(postgres.url, account, config: config)
    #expect(try later.call("usage/get", ["metrics": ["tokens"]])["tier"] == "pro")
  }

  /// A row of usage/history, without its cost (compared apart): a tokens row carries its currency.
  struct Row: Equatable, CustomStringConvertible {
    var group: String?
    var total: Int64?
    var changes: Int64?
    var input: Int64?
    var output: Int64?
    var currency: String? = "USD"
    var description: String {
      "\(group ?? "null"): \(total ?? -1) in \(changes ?? -1) (\(input ?? -1)/\(output ?? -1) \(currency ?? "-"))"
    }
  }

  /// The ISO 8601 week of a moment in UTC: `2026-W50`.
  static func isoWeek(_ date: Date) -> String {
    var calendar = Calendar(identifier: .iso8601)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
    let week = parts.weekOfYear ?? 0
    return "\(parts.yearForWeekOfYear ?? 0)-W\(week < 10 ? "0" : "")\(week)"
  }
}
