import Foundation
import JSON
import Testing

/// Usage semantics over the wire, against the built binary: the order and content of `usage/changed`, threshold
/// notifications once per crossing (and none for a client that asked for none), tokens with cost, periods, tiers
/// and resets.
@Suite("Usage semantics over the wire")
struct UsageSemanticsTests {
  /// Hands a process to the thread that feeds it, while the test reads its answers.
  final class Feeder: @unchecked Sendable {
    let sidecar: SidecarProcess
    init(_ sidecar: SidecarProcess) { self.sidecar = sidecar }
  }

  static let models = ["gpt-4o-2024-08-06", "claude-sonnet-4-5", "gemini-2.5-flash-001", "acme-1"]

  /// One framed request, ready to be written.
  static func frame(_ method: String, _ params: JSONData, id: Int64, framing: SidecarProcess.Framing) -> [UInt8] {
    let message: JSONData = .object([
      ("jsonrpc", "2.0"), ("id", .int(id)), ("method", .string(method)), ("params", params),
    ])
    return SidecarProcess.frame(Array(message.jsonText.utf8), framing)
  }

  /// Sends a `ping` and reads until its answer; returns every notification written before it, in order.
  static func notificationsUntilSentinel(_ sidecar: SidecarProcess) throws -> [JSONData] {
    var notifications = sidecar.takeNotifications()
    try sidecar.send(JSONData.object([("jsonrpc", "2.0"), ("id", "sentinel"), ("method", "ping")]))
    while true {
      let message = try sidecar.nextMessage()
      if message["id"] == "sentinel" {
        #expect(message["result"] == [:])
        return notifications
      }
      #expect(message["id"] == nil, "an answer nobody waited for: \(message.jsonText)")
      notifications.append(message)
    }
  }

  static func named(_ method: String, _ messages: [JSONData]) -> [JSONData] {
    messages.filter { $0["method"]?.string == method }.compactMap { $0["params"] }
  }

  /// A metric's state without its `sync` member (which moves with the refresh schedule).
  static func withoutSync(_ state: JSONData?) -> JSONData? {
    guard let members = state?.objectMembers else { return state }
    return .object(members.filter { $0.0 != "sync" })
  }

  /// `object` with `member` set to `value`, keeping the other members.
  static func replacing(_ object: JSONData, _ member: String, with value: JSONData) -> JSONData {
    guard var members = object.objectMembers else { return object }
    if let position = members.firstIndex(where: { $0.0 == member }) {
      members[position].1 = value
    } else {
      members.append((member, value))
    }
    return .object(members)
  }

  static func expectClose(_ value: JSONData?, _ expected: Double, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let number = value?.number else {
      Issue.record(
        "expected a number near \(expected), got \(value?.jsonText ?? "nothing")", sourceLocation: sourceLocation)
      return
    }
    #expect(abs(number - expected) <= 1e-12, "\(number) ≠ \(expected)", sourceLocation: sourceLocation)
  }

  // MARK: - Subscriptions

  @Test(
    "a burst of 500 pipelined changes: changed versions increase and replay to the final state",
    arguments: SidecarProcess.Framing.allCases)
  func subscriptionOrdering(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let subscribed = try sidecar.call("usage/subscribe", [:])
    let subscription = try #require(subscribed["subscription"]?.string)
    let snapshot = try #require(subscribed["snapshot"])
    var replayed = try #require(snapshot["metrics"])
    let startVersion = try #require(snapshot["version"]?.int)

    var generator = SystemRandomNumberGenerator()
    var bytes: [UInt8] = []
    let count: Int64 = 500
    for id in 0..<count {
      let choice = Int.random(in: 0..<10, using: &generator)
      let amount = JSONData.int(Int64.random(in: 0...7, using: &generator))
      let params: JSONData
      let method: String
      switch choice {
      case 0, 1:
        (method, params) = ("usage/increment", ["metric": "documents", "amount": amount])
      case 2:
        (method, params) = ("usage/decrement", ["metric": "documents", "amount": amount])
      case 3:
        (method, params) = ("usage/increment", ["metric": "storage", "amount": .int(Int64.random(in: 0...4096))])
      case 4:
        (method, params) = ("usage/decrement", ["metric": "storage", "amount": 1024])
      case 5, 6:
        (method, params) = ("usage/increment", ["metric": "requests"])
      case 7:
        (method, params) = ("usage/decrement", ["metric": "requests", "amount": amount])
      default:
        let model = Self.models[Int.random(in: 0..<Self.models.count, using: &generator)]
        (method, params) = (
          "usage/increment",
          [
            "metric": "tokens", "input": .int(Int64.random(in: 0...5000)), "output": .int(Int64.random(in: 0...900)),
            "labels": ["model": .string(model)],
          ]
        )
      }
      bytes += Self.frame(method, params, id: 1000 + id, framing: framing)
    }

    // Written from another thread, all at once, while this one reads: no request waits for an answer.
    let feeder = Feeder(sidecar)
    let burst = bytes
    let writer = Thread { try? feeder.sidecar.sendRaw(burst) }
    writer.start()

    var answered = Set<Int64>()
    var messages: [JSONData] = []
    while answered.count < count {
      let message = try sidecar.nextMessage()
      if let id = message["id"]?.int {
        #expect(message["result"] != nil, "\(message.jsonText)")
        #expect(!answered.contains(id))
        answered.insert(id)
      } else {
        messages.append(message)
      }
    }
    #expect(answered == Set(1000..<(1000 + count)))
    messages += try Self.notificationsUntilSentinel(sidecar)
    let final = try sidecar.call("usage/get", [:])

    let changed = Self.named("usage/changed", messages)
    #expect(!changed.isEmpty)
    #expect(changed.count <= Int(count))
    var lastVersion = startVersion
    for notification in changed {
      #expect(notification["subscription"]?.string == subscription)
      let version = try #require(notification["version"]?.int)
      #expect(version > lastVersion, "usage/changed went from \(lastVersion) to \(version)")
      lastVersion = version
      for (name, state) in try #require(notification["metrics"]?.objectMembers) {
        #expect(replayed[name] != nil, "unknown metric \(name)")
        #expect((state["version"]?.int ?? 0) <= version)
        replayed = Self.replacing(replayed, name, with: state)
      }
    }
    #expect(lastVersion == final["version"]?.int)
    #expect(replayed == final["metrics"])
    let last = try #require(changed.last?["metrics"]?.objectMembers)
    for (name, state) in last {
      #expect(final["metrics"]?[name] == state, "\(name) in the last usage/changed is not final")
    }
  }

  @Test("a subscription to some metrics hears only about them")
  func subscriptionToSome() throws {
    let sidecar = try SidecarProcess()
    let subscribed = try sidecar.call("usage/subscribe", ["metrics": ["storage"]])
    #expect(subscribed["snapshot"]?["metrics"]?.objectMembers?.map(\.0) == ["storage"])
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 3])
    var changed = Self.named("usage/changed", try Self.notificationsUntilSentinel(sidecar))
    #expect(changed.isEmpty)
    _ = try sidecar.call("usage/increment", ["metric": "storage", "amount": 4096])
    changed = Self.named("usage/changed", try Self.notificationsUntilSentinel(sidecar))
    #expect(changed.count == 1)
    #expect(changed.first?["metrics"]?.objectMembers?.map(\.0) == ["storage"])
    #expect(changed.first?["metrics"]?["storage"]?["used"] == 4096)
  }

  @Test("a decrement at zero changes nothing: same version, no usage/changed")
  func noOpDecrement() throws {
    let sidecar = try SidecarProcess()
    let subscribed = try sidecar.call("usage/subscribe", [:])
    let before = try #require(subscribed["snapshot"]?["metrics"]?["documents"])
    let answer = try sidecar.call("usage/decrement", ["metric": "documents", "amount": 3])
    #expect(answer == Self.withoutSync(before))
    #expect(Self.named("usage/changed", try Self.notificationsUntilSentinel(sidecar)).isEmpty)
    #expect(try sidecar.call("usage/get", [:])["version"] == subscribed["snapshot"]?["version"])
  }

  // MARK: - Thresholds

  @Test(
    "after initialize: one warning and one exceeded per upward crossing, none while falling",
    arguments: SidecarProcess.Framing.allCases)
  func thresholdNotifications(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let initialized = try sidecar.call(
      "initialize", ["clientInfo": ["name": "tests"], "config": ["metrics": ["documents": ["limits": ["free": 10]]]]])
    #expect(initialized["snapshot"]?["metrics"]?["documents"]?["limit"] == 10)

    var crossings: [JSONData] = []
    for used in 1...12 {
      let state = try sidecar.call("usage/increment", ["metric": "documents"])
      #expect(state["used"]?.int == Int64(used))
      crossings += Self.named("usage/threshold", sidecar.takeNotifications())
    }
    crossings += Self.named("usage/threshold", try Self.notificationsUntilSentinel(sidecar))
    #expect(
      crossings == [
        ["metric": "documents", "level": "warning", "ratio": 0.8, "used": 8, "limit": 10],
        ["metric": "documents", "level": "exceeded", "ratio": 1, "used": 10, "limit": 10],
      ])

    for used in stride(from: 11, through: 5, by: -1) {
      let state = try sidecar.call("usage/decrement", ["metric": "documents"])
      #expect(state["used"]?.int == Int64(used))
    }
    let whileFalling = try Self.notificationsUntilSentinel(sidecar)
    #expect(whileFalling.isEmpty, "\(whileFalling.map(\.jsonText))")

    crossings = []
    for _ in 6...10 {
      _ = try sidecar.call("usage/increment", ["metric": "documents"])
    }
    crossings = Self.named("usage/threshold", try Self.notificationsUntilSentinel(sidecar))
    #expect(crossings.map { $0["level"] } == ["warning", "exceeded"])
    #expect(crossings.map { $0["used"] } == [8, 10])
  }

  @Test("a threshold notification follows the answer of the request that caused it, and a whole batch's answers")
  func thresholdAfterAnswer() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("initialize", ["config": ["metrics": ["documents": ["limits": ["free": 10]]]]])
    try sidecar.send(
      #"{"jsonrpc":"2.0","id":77,"method":"usage/increment","params":{"metric":"documents","amount":8}}"#)
    let answer = try sidecar.nextMessage()
    #expect(answer["id"] == 77)
    #expect(answer["result"]?["level"] == "warning")
    let notification = try sidecar.nextMessage()
    #expect(notification["method"] == "usage/threshold")
    #expect(notification["params"]?["level"] == "warning")

    try sidecar.send(
      #"[{"jsonrpc":"2.0","id":1,"method":"usage/increment","params":{"metric":"documents","amount":2}},"#
        + #"{"jsonrpc":"2.0","id":2,"method":"usage/get","params":{"metrics":["documents"]}}]"#)
    let answers = try sidecar.nextMessage()
    #expect(answers.array?.count == 2)
    let exceeded = try sidecar.nextMessage()
    #expect(exceeded["method"] == "usage/threshold")
    #expect(exceeded["params"]?["level"] == "exceeded")
  }

  @Test("a jump past both thresholds is one exceeded notification")
  func thresholdJump() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("initialize", ["config": ["metrics": ["documents": ["limits": ["free": 10]]]]])
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 25])
    let crossings = Self.named("usage/threshold", try Self.notificationsUntilSentinel(sidecar))
    #expect(crossings == [["metric": "documents", "level": "exceeded", "ratio": 2.5, "used": 25, "limit": 10]])
  }

  @Test(
    "without initialize or subscribe nothing but answers is written",
    arguments: SidecarProcess.Framing.allCases)
  func quietWithoutInterest(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    for _ in 1...120 {
      _ = try sidecar.call("usage/increment", ["metric": "documents"])
    }
    _ = try sidecar.call("usage/increment", ["metric": "requests", "amount": 150])
    _ = try sidecar.call("usage/setTier", ["tier": "pro"])
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 9_000])
    _ = try sidecar.call("usage/setTier", ["tier": "free"])
    #expect(try sidecar.call("usage/get", ["metrics": ["documents"]])["metrics"]?["documents"]?["level"] == "exceeded")
    let notifications = try Self.notificationsUntilSentinel(sidecar)
    #expect(notifications.isEmpty, "\(notifications.map(\.jsonText))")
    sidecar.closeInput()
    #expect(try sidecar.readToEnd().isEmpty)
  }

  // MARK: - Tokens

  @Test("tokens: input, output, cost, byModel and unpriced", arguments: SidecarProcess.Framing.allCases)
  func tokens(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let first = try sidecar.call(
      "usage/increment",
      ["metric": "tokens", "input": 1200, "output": 300, "labels": ["model": "gpt-4o-2024-08-06"]])
    #expect(first["used"] == 1500)
    #expect(first["input"] == 1200)
    #expect(first["output"] == 300)
    #expect(first["currency"] == "USD")
    #expect(first["period"] == "monthly")
    Self.expectClose(first["cost"], 1200 * 2.50 / 1e6 + 300 * 10.0 / 1e6)
    let gpt = try #require(first["byModel"]?["gpt-4o-2024-08-06"])
    #expect(gpt["used"] == 1500)
    #expect(gpt["input"] == 1200)
    #expect(gpt["output"] == 300)
    #expect(gpt["priced"] == true)
    #expect(gpt["events"] == 1)
    #expect(gpt["provider"] == "openai")
    #expect(gpt["pricedAs"] == "gpt-4o")
    Self.expectClose(gpt["cost"], 0.006)
    #expect(first["unpriced"] == nil)

    _ = try sidecar.call(
      "usage/increment",
      ["metric": "tokens", "input": 2000, "output": 100, "labels": ["model": "anthropic/claude-sonnet-4-5-20250929"]])
    let third = try sidecar.call(
      "usage/increment",
      ["metric": "tokens", "input": 40, "output": 2, "labels": ["model": "acme-1", "provider": "acme"]])
    #expect(third["used"] == 3642)
    #expect(third["input"] == 3240)
    #expect(third["output"] == 402)
    #expect(third["unpriced"] == ["acme-1"])
    #expect(
      third["byModel"]?["acme-1"] == [
        "used": 42, "input": 40, "output": 2, "cacheRead": 0, "cacheWrite": 0, "cost": 0, "priced": false, "events": 1,
        "provider": "acme",
      ])
    #expect(third["byModel"]?["anthropic/claude-sonnet-4-5-20250929"]?["pricedAs"] == "claude-sonnet-4-5")
    Self.expectClose(third["cost"], 0.006 + 2000 * 3.0 / 1e6 + 100 * 15.0 / 1e6)

    let missing = try sidecar.request("usage/increment", ["metric": "tokens", "labels": ["model": "gpt-4o"]])
    #expect(missing["error"]?["code"] == -32602)
    #expect(missing["error"]?["data"]?["field"] == "input")
    let mismatch = try sidecar.request(
      "usage/increment", ["metric": "tokens", "amount": 10, "input": 5, "output": 6, "labels": ["model": "gpt-4o"]])
    #expect(mismatch["error"]?["code"] == -32602)
    #expect(mismatch["error"]?["data"]?["field"] == "amount")
    #expect(try sidecar.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"]?["used"] == 3642)

    // A model's reset shows it from zero again; the period's total, fields and cost (the quota) keep its usage.
    let totalCost = try sidecar.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"]?["cost"]
    let reset = try sidecar.call("usage/reset", ["metric": "tokens", "labels": ["model": "gpt-4o-2024-08-06"]])
    #expect(reset["used"] == 3642)
    #expect(reset["input"] == 3240)
    #expect(reset["output"] == 402)
    #expect(reset["byModel"]?.objectMembers?.map(\.0) == ["anthropic/claude-sonnet-4-5-20250929", "acme-1"])
    #expect(reset["cost"] == totalCost)
    #expect(reset["unpriced"] == ["acme-1"])

    let all = try sidecar.call("usage/reset", ["metric": "tokens"])
    #expect(all["used"] == 0)
    #expect(all["cost"] == 0)
    #expect(all["byModel"] == [:])
    #expect(all["unpriced"] == nil)
  }

  @Test("token prices and currency come from initialize")
  func tokenConfiguration() throws {
    let sidecar = try SidecarProcess()
    let config: JSONData = [
      "config": ["plugins": ["tokens": ["currency": "EUR", "prices": ["house": ["input": 2, "output": 4]]]]]
    ]
    let initialized = try sidecar.call("initialize", config)
    let descriptor = initialized["capabilities"]?["metrics"]?.array?.first { $0["name"] == "tokens" }
    #expect(descriptor?["currency"] == "EUR")
    let state = try sidecar.call(
      "usage/increment", ["metric": "tokens", "input": 500_000, "output": 250_000, "labels": ["model": "house"]])
    #expect(state["currency"] == "EUR")
    Self.expectClose(state["cost"], 2.0)
    #expect(state["byModel"]?["house"]?["provider"] == "custom")
  }

  // MARK: - Periods

  @Test("requests count per UTC day: period, periodStart and nextReset")
  func requestsPeriod() throws {
    let formatter = ISO8601DateFormatter()
    formatter.timeZone = TimeZone(identifier: "UTC")
    func midnights() -> (String, String) {
      let day = floor(Date().timeIntervalSince1970 / 86_400) * 86_400
      return (
        formatter.string(from: Date(timeIntervalSince1970: day)),
        formatter.string(from: Date(timeIntervalSince1970: day + 86_400))
      )
    }
    let before = midnights()
    let sidecar = try SidecarProcess()
    let state = try sidecar.call("usage/increment", ["metric": "requests"])
    let after = midnights()
    #expect(state["period"] == "daily")
    let seen = (state["periodStart"]?.string ?? "", state["nextReset"]?.string ?? "")
    #expect(seen == before || seen == after, "\(seen)")
    #expect(seen.0.hasSuffix("T00:00:00Z"))

    let tokens = try sidecar.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"]
    #expect(tokens?["period"] == "monthly")
    #expect(tokens?["periodStart"]?.string?.hasSuffix("-01T00:00:00Z") == true)
    #expect(tokens?["nextReset"]?.string?.hasSuffix("-01T00:00:00Z") == true)
    let documents = try sidecar.call("usage/get", ["metrics": ["documents"]])["metrics"]?["documents"]
    #expect(documents?["period"] == "unlimited")
    #expect(documents?["periodStart"] == nil)
    #expect(documents?["nextReset"] == nil)
  }

  // MARK: - Tiers and resets

  @Test("setTier changes limits; subscribers hear a changed notification and the crossing it causes")
  func setTier() throws {
    let sidecar = try SidecarProcess(arguments: ["--tier", "pro"])
    let subscribed = try sidecar.call("usage/subscribe", ["metrics": ["documents", "requests"]])
    #expect(subscribed["snapshot"]?["tier"] == "pro")
    #expect(subscribed["snapshot"]?["metrics"]?["documents"]?["limit"] == 10_000)
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 90])
    _ = Self.named("usage/changed", try Self.notificationsUntilSentinel(sidecar))

    let answer = try sidecar.call("usage/setTier", ["tier": "free"])
    #expect(answer["tier"] == "free")
    #expect(answer["metrics"]?["documents"]?["limit"] == 100)
    #expect(answer["metrics"]?["documents"]?["level"] == "warning")
    #expect(answer["metrics"]?["tokens"]?["limit"] == 100_000)
    let notifications = try Self.notificationsUntilSentinel(sidecar)
    let changed = Self.named("usage/changed", notifications)
    #expect(changed.count == 1)
    #expect(changed.first?["metrics"]?["documents"]?["limit"] == 100)
    #expect(changed.first?["metrics"]?["requests"]?["limit"] == 100)
    #expect(changed.first?["metrics"]?["documents"] == answer["metrics"]?["documents"])
    #expect(
      Self.named("usage/threshold", notifications) == [
        ["metric": "documents", "level": "warning", "ratio": 0.9, "used": 90, "limit": 100]
      ])

    let ultra = try sidecar.call("usage/setTier", ["tier": "ultra"])
    #expect(ultra["metrics"]?["documents"]?["limit"] == .null)
    #expect(ultra["metrics"]?["documents"]?["remaining"] == .null)
    #expect(ultra["metrics"]?["documents"]?["ratio"] == 0)
    #expect(ultra["metrics"]?["documents"]?["level"] == "ok")
    #expect(Self.named("usage/threshold", try Self.notificationsUntilSentinel(sidecar)).isEmpty)
  }

  @Test("a reset with labels.model shows that model from zero again (the total keeps it), and subscribers hear it")
  func resetOneModel() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("usage/subscribe", ["metrics": ["tokens"]])
    for model in ["gpt-4o", "gemini-2.5-pro"] {
      _ = try sidecar.call(
        "usage/increment", ["metric": "tokens", "input": 1_000, "output": 1_000, "labels": ["model": .string(model)]])
    }
    _ = try Self.notificationsUntilSentinel(sidecar)
    let reset = try sidecar.call("usage/reset", ["metric": "tokens", "labels": ["model": "gpt-4o"]])
    #expect(reset["used"] == 4000)
    #expect(reset["byModel"]?.objectMembers?.map(\.0) == ["gemini-2.5-pro"])
    Self.expectClose(reset["cost"], 1000 * 2.5 / 1e6 + 1000 * 10.0 / 1e6 + 1000 * 1.25 / 1e6 + 1000 * 10.0 / 1e6)
    let changed = Self.named("usage/changed", try Self.notificationsUntilSentinel(sidecar))
    // The notification carries the latest state; only the sync state (the next refresh moved) may differ.
    #expect(Self.withoutSync(changed.last?["metrics"]?["tokens"]) == Self.withoutSync(reset))

    let wrongLabel = try sidecar.request("usage/reset", ["metric": "tokens", "labels": ["provider": "openai"]])
    #expect(wrongLabel["error"]?["data"]?["field"] == "labels.model")
    let noBreakdown = try sidecar.request("usage/reset", ["metric": "documents", "labels": ["model": "x"]])
    #expect(noBreakdown["error"]?["data"]?["field"] == "labels")
  }

  @Test("an enforced increment past the limit is refused with the numbers and changes nothing")
  func enforce() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("initialize", ["config": ["metrics": ["documents": ["limits": ["free": 5]]]]])
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 4, "enforce": true])
    let refused = try sidecar.request("usage/increment", ["metric": "documents", "amount": 2, "enforce": true])
    #expect(refused["error"]?["code"] == -32050)
    #expect(refused["error"]?["data"] == ["metric": "documents", "used": 4, "limit": 5, "requested": 2])
    let check = try sidecar.call("usage/check", ["metric": "documents", "amount": 1])
    #expect(
      check == [
        "metric": "documents", "allowed": true, "requested": 1, "used": 4, "limit": 5, "remaining": 1,
        "level": "warning",
      ])
    #expect(try sidecar.call("usage/increment", ["metric": "documents", "enforce": true])["used"] == 5)
  }
}
