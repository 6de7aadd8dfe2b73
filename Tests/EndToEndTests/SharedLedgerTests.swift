import Dispatch
import Foundation
import JSON
import Testing

/// Several usagectx processes on one state directory share one context: limits and idempotency keys hold across
/// them, because every change is decided inside a transaction of the ledger against what all of them committed.
@Suite("One ledger, several processes")
struct SharedLedgerTests {
  /// A state directory holding a configuration file with these limits (free tier) per metric.
  static func stateDirectory(limits: [String: Int64]) throws -> (state: String, config: String) {
    let state = DurabilityTests.stateDirectory()
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let metrics = JSONData.object(limits.map { ($0.key, ["limits": ["free": .int($0.value)]]) })
    let config = state + "/config.json"
    try Data(JSONData.object([("metrics", metrics)]).jsonText.utf8).write(to: URL(fileURLWithPath: config))
    return (state, config)
  }

  /// `count` requests of `method` with these params, one per line, ids from `firstID`.
  static func burst(_ count: Int, firstID: Int = 0, _ params: (Int) -> JSONData) -> String {
    (0..<count).map { index in
      JSONData.object([
        ("jsonrpc", "2.0"), ("id", .int(Int64(firstID + index))), ("method", "usage/increment"),
        ("params", params(index)),
      ]).jsonText + "\n"
    }.joined()
  }

  @Test(
    "two sidecars × 40 enforced increments against a limit of 50: exactly 50 stored, 30 refused, answers consistent")
  func enforcedRace() throws {
    let (state, config) = try Self.stateDirectory(limits: ["documents": 50])
    let sidecars = try (0..<2).map { _ in try SidecarProcess(arguments: ["--state", state, "--config", config]) }
    let burst = Self.burst(40) { _ in ["metric": "documents", "enforce": true] }
    for sidecar in sidecars { try sidecar.sendRaw(burst) }
    var applied: [Int64] = []
    var refused = 0
    for sidecar in sidecars {
      for _ in 0..<40 {
        let answer = try sidecar.nextResponse()
        if let used = answer["result"]?["used"]?.int {
          applied.append(used)
        } else {
          #expect(answer["error"]?["code"] == -32050)
          #expect(answer["error"]?["data"]?["used"] == 50)
          refused += 1
        }
      }
    }
    #expect(applied.count == 50)
    #expect(refused == 30)
    // Each applied increment moved the one shared total by one: together they answered 1…50, each once.
    #expect(applied.sorted() == Array(1...50))
    let fresh = try SidecarProcess(arguments: ["--state", state, "--config", config])
    #expect(try DurabilityTests.documents(fresh) == 50)
  }

  @Test("10 parallel `usagectx call` enforced increments against a limit of 3: exactly 3 succeed")
  func parallelCalls() throws {
    let (state, config) = try Self.stateDirectory(limits: ["requests": 3])
    let results = Results()
    DispatchQueue.concurrentPerform(iterations: 10) { _ in
      let run = Result {
        try OneShotCommand.run([
          "call", "usage/increment", #"{"metric":"requests","enforce":true}"#, "--state", state, "--config", config,
        ])
      }
      results.append(run)
    }
    let runs = try results.all.map { try $0.get() }
    #expect(runs.filter { $0.status == 0 }.count == 3)
    let refusals = runs.filter { $0.status == 1 }
    #expect(refusals.count == 7)
    #expect(refusals.allSatisfy { $0.stderr.contains("-32050") })
    let check = try OneShotCommand.run(["call", "usage/get", #"{"metrics":["requests"]}"#, "--state", state])
    #expect(try JSONData(parsing: check.stdout)["metrics"]?["requests"]?["used"] == 3)
  }

  @Test("400 keys each sent through 4 processes at once: 400 stored, each key answered identically everywhere")
  func keysAcrossProcesses() throws {
    let state = DurabilityTests.stateDirectory()
    let sidecars = try (0..<4).map { _ in try SidecarProcess(arguments: ["--state", state]) }
    var expected: Int64 = 0
    for key in 0..<400 { expected += Int64(key % 5 + 1) }
    for (position, sidecar) in sidecars.enumerated() {
      // Each process sends the keys in its own order, so they meet in every interleaving.
      let order = (0..<400).map { ($0 * (2 * position + 1) + 97 * position) % 400 }
      try sidecar.sendRaw(
        Self.burst(400) { index in
          let key = order[index]
          return ["metric": "documents", "amount": .int(Int64(key % 5 + 1)), "key": .string("upload-\(key)")]
        })
    }
    var answers: [String: Set<String>] = [:]
    for (position, sidecar) in sidecars.enumerated() {
      let order = (0..<400).map { ($0 * (2 * position + 1) + 97 * position) % 400 }
      for _ in 0..<400 {
        let answer = try sidecar.nextResponse()
        let id = try #require(answer["id"]?.int)
        let result = try #require(answer["result"], "\(answer.jsonText)")
        answers["upload-\(order[Int(id)])", default: []].insert(result.jsonText)
      }
    }
    #expect(answers.count == 400)
    #expect(answers.values.allSatisfy { $0.count == 1 })
    let fresh = try SidecarProcess(arguments: ["--state", state])
    #expect(try DurabilityTests.documents(fresh) == expected)
  }

  @Test("a usage/check right after another process's commit sees it")
  func checkFreshness() throws {
    let (state, config) = try Self.stateDirectory(limits: ["documents": 10])
    let checker = try SidecarProcess(arguments: ["--state", state, "--config", config])
    #expect(try checker.call("usage/check", ["metric": "documents"])["allowed"] == true)
    let writer = try SidecarProcess(arguments: ["--state", state, "--config", config])
    #expect(try writer.call("usage/increment", ["metric": "documents", "amount": 10])["used"] == 10)
    let check = try checker.call("usage/check", ["metric": "documents"])
    #expect(check["allowed"] == false)
    #expect(check["used"] == 10)
    let refused = try checker.request("usage/increment", ["metric": "documents", "enforce": true])
    #expect(refused["error"]?["code"] == -32050)
  }

  @Test("1,025 increments of 2^53-1: those past 2^63-1 are refused with -32602, and the ledger reopens")
  func rangeRefused() throws {
    let state = DurabilityTests.stateDirectory()
    let big: Int64 = 9_007_199_254_740_991
    let sidecar = try SidecarProcess(arguments: ["--state", state])
    try sidecar.sendRaw(Self.burst(1_025) { _ in ["metric": "documents", "amount": .int(big)] })
    var applied = 0
    var refused = 0
    for _ in 0..<1_025 {
      let answer = try sidecar.nextResponse()
      if answer["result"] != nil {
        applied += 1
      } else {
        #expect(answer["error"]?["code"] == -32602)
        #expect(answer["error"]?["data"]?["field"] == "amount")
        refused += 1
      }
    }
    #expect(applied == 1_024)
    #expect(refused == 1)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    let again = try SidecarProcess(arguments: ["--state", state])
    #expect(try DurabilityTests.documents(again) == 1_024 * big)
    #expect(
      try again.request("usage/increment", ["metric": "documents", "amount": .int(big)])["error"]?["code"] == -32602)
    #expect(try again.call("usage/decrement", ["metric": "documents", "amount": 5])["used"]?.int == 1_024 * big - 5)
  }

  @Test("resetting one model keeps the quota and the history; resetting the metric is recorded as a reset")
  func resets() throws {
    let state = DurabilityTests.stateDirectory()
    let first = try SidecarProcess(arguments: ["--state", state])
    for (model, input) in [("gpt-4o", 100), ("claude-3-haiku", 40)] {
      _ = try first.call(
        "usage/increment",
        ["metric": "tokens", "input": .int(Int64(input)), "output": 0, "labels": ["model": .string(model)]])
    }
    let reset = try first.call("usage/reset", ["metric": "tokens", "labels": ["model": "gpt-4o"]])
    #expect(reset["used"] == 140)
    #expect(reset["byModel"]?["gpt-4o"] == nil)
    #expect(reset["byModel"]?["claude-3-haiku"]?["input"] == 40)
    let byModel = try first.call("usage/history", ["metric": "tokens", "groupBy": "model"])
    #expect(
      byModel["rows"] == [
        [
          "metric": "tokens", "group": "claude-3-haiku", "total": 40, "changes": 1, "input": 40, "output": 0,
          "cacheRead": 0, "cacheWrite": 0, "cost": 0.00001, "currency": "USD",
        ],
        [
          "metric": "tokens", "group": "gpt-4o", "total": 100, "changes": 1, "input": 100, "output": 0, "cacheRead": 0,
          "cacheWrite": 0, "cost": 0.00025,
          "currency": "USD",
        ],
      ])
    first.closeInput()
    #expect(try first.waitForExit() == 0)

    // After a restart the model still shows from its reset, and the quota still counts it.
    let second = try SidecarProcess(arguments: ["--state", state])
    let tokens = try #require(try second.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    #expect(tokens["used"] == 140)
    #expect(tokens["byModel"]?["gpt-4o"] == nil)
    _ = try second.call(
      "usage/increment", ["metric": "tokens", "input": 5, "output": 0, "labels": ["model": "gpt-4o"]])
    let after = try second.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"]
    #expect(after?["used"] == 145)
    #expect(after?["byModel"]?["gpt-4o"]?["input"] == 5)

    // The whole metric: back to zero, recorded as a reset beside the usage it took back.
    #expect(try second.call("usage/reset", ["metric": "tokens"])["used"] == 0)
    let history = try second.call("usage/history", ["metric": "tokens", "groupBy": "model"])
    #expect(
      history["rows"] == [
        [
          "metric": "tokens", "group": "claude-3-haiku", "total": 40, "changes": 1, "reset": 40, "input": 40,
          "output": 0, "cacheRead": 0, "cacheWrite": 0, "cost": 0.00001, "currency": "USD",
        ],
        [
          "metric": "tokens", "group": "gpt-4o", "total": 105, "changes": 2, "reset": 105, "input": 105, "output": 0,
          "cacheRead": 0, "cacheWrite": 0, "cost": 0.0002625, "currency": "USD",
        ],
      ])
  }
}

extension SharedLedgerTests {
  @Test("a restart reads counters, not the change log: the rows read at open stay few however many changes were made")
  func boundedStart() throws {
    let state = DurabilityTests.stateDirectory()
    let sidecar = try SidecarProcess(arguments: ["--state", state])
    // Keyed changes: each is a row of the change log.
    try sidecar.sendRaw(
      Self.burst(3_000) { index in
        let metric: JSONData = index % 2 == 0 ? "documents" : "requests"
        return ["metric": metric, "key": .string("k\(index)")]
      })
    for _ in 0..<3_000 { #expect(try sidecar.nextResponse()["result"] != nil) }
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
    let restarted = try SidecarProcess(arguments: ["--state", state, "--log-level", "debug"])
    #expect(try DurabilityTests.documents(restarted) == 1_500)
    restarted.closeInput()
    #expect(try restarted.waitForExit() == 0)
    let line = try #require(
      restarted.stderrText.split(separator: "\n").first { $0.contains("counter rows read at open") })
    let count = try #require(
      line.split(separator: " ").firstIndex(of: "counter").map { Int(line.split(separator: " ")[$0 - 1]) } ?? nil)
    // Two metrics, one label each: a look-up of each metric, its all-time row and today's.
    #expect(count == 6, "\(line)")
    #expect(line.contains("whole-file check skipped"), "a clean close marks the file: \(line)")
  }
}

extension SharedLedgerTests {
  @Test("changes pipelined with one id (as a shell script sends them) are each answered, in order, after the commit")
  func reusedIDs() throws {
    let sidecar = try SidecarProcess(arguments: ["--state", DurabilityTests.stateDirectory()])
    let line = #"{"jsonrpc":"2.0","id":1,"method":"usage/increment","params":{"metric":"documents"}}"# + "\n"
    try sidecar.sendRaw(
      line + line + #"{"jsonrpc":"2.0","id":1,"method":"usage/get","params":{"metrics":["documents"]}}"#
        + "\n" + line)
    #expect(try sidecar.nextResponse()["result"]?["used"] == 1)
    #expect(try sidecar.nextResponse()["result"]?["used"] == 2)
    #expect(try sidecar.nextResponse()["result"]?["metrics"]?["documents"]?["used"] == 2)
    #expect(try sidecar.nextResponse()["result"]?["used"] == 3)
  }
}

/// Results gathered from concurrent work.
final class Results: @unchecked Sendable {
  private let lock = NSLock()
  private var items: [Result<OneShotCommand, any Error>] = []

  func append(_ item: Result<OneShotCommand, any Error>) { lock.withLock { items.append(item) } }
  var all: [Result<OneShotCommand, any Error>] { lock.withLock { items } }
}
