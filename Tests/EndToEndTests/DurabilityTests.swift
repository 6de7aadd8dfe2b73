import Foundation
import JSON
import TestSupport
import Testing

/// The durable ledger end to end: what was acknowledged survives kill -9, idempotency keys survive restarts, and a
/// file that is not a ledger stops usagectx with a message naming it.
@Suite("Durability")
struct DurabilityTests {
  /// A state directory of its own.
  static func stateDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-durable-\(UUID().uuidString)").path
  }

  static func documents(_ sidecar: SidecarProcess) throws -> Int64 {
    try #require(try sidecar.call("usage/get", ["metrics": ["documents"]])["metrics"]?["documents"]?["used"]?.int)
  }

  @Test("kill -9 at random moments under pipelined load: acknowledged <= stored <= attempted, 100 times")
  func killNine() throws {
    let state = Self.stateDirectory()
    var generator = SeededGenerator(seed: 2026)
    var acknowledged: Int64 = 0
    var attempted: Int64 = 0
    for cycle in 0..<100 {
      let sidecar = try SidecarProcess(arguments: ["--state", state])
      // What a restarted session starts from is what was stored.
      let stored = try Self.documents(sidecar)
      #expect(
        acknowledged <= stored && stored <= attempted, "cycle \(cycle): \(acknowledged) <= \(stored) <= \(attempted)")
      acknowledged = stored
      attempted = stored
      let count = Int.random(in: 50...600, using: &generator)
      var burst = ""
      for id in 0..<count {
        burst += #"{"jsonrpc":"2.0","id":\#(id),"method":"usage/increment","params":{"metric":"documents"}}"# + "\n"
      }
      try sidecar.sendRaw(burst)
      attempted += Int64(count)
      // Read some of the answers, then kill it while it works on the rest.
      let waitFor = Int.random(in: 0...count, using: &generator)
      for _ in 0..<waitFor {
        let answer = try sidecar.nextMessage()
        #expect(answer["result"]?["used"] != nil)
        acknowledged += 1
      }
      sidecar.signal(SIGKILL)
      _ = try sidecar.waitForExit()
    }
    let last = try SidecarProcess(arguments: ["--state", state])
    let stored = try Self.documents(last)
    #expect(acknowledged <= stored && stored <= attempted, "\(acknowledged) <= \(stored) <= \(attempted)")
  }

  @Test("an increment retried with the same key after a restart is counted once and gets its first answer")
  func keyAcrossRestart() throws {
    let state = Self.stateDirectory()
    let params: JSONData = ["metric": "documents", "amount": 3, "key": "upload-1"]
    let first = try SidecarProcess(arguments: ["--state", state])
    let answer = try first.call("usage/increment", params)
    #expect(answer["used"] == 3)
    first.signal(SIGKILL)
    _ = try first.waitForExit()

    let second = try SidecarProcess(arguments: ["--state", state])
    #expect(try second.call("usage/increment", params) == answer)
    #expect(try Self.documents(second) == 3)
    let other = try second.request("usage/increment", ["metric": "documents", "amount": 4, "key": "upload-1"])
    #expect(other["error"]?["data"]?["field"] == "key")
  }

  @Test("a file at the ledger's path that is not a ledger stops usagectx with a message naming it, untouched")
  func foreignFile() throws {
    let state = Self.stateDirectory()
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let path = state + "/usage.sqlite3"
    try Data("these are my notes, not a database\n".utf8).write(to: URL(fileURLWithPath: path))
    let sidecar = try SidecarProcess(arguments: ["--state", state])
    #expect(try sidecar.waitForExit() == 2)
    #expect(sidecar.stderrText.contains(path))
    #expect(sidecar.stderrText.contains("not a usagectx ledger"))
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "these are my notes, not a database\n")
  }

  @Test("--ack memory answers before the commit; what it answered is still there after a clean exit")
  func ackMemory() throws {
    let state = Self.stateDirectory()
    let fast = try SidecarProcess(arguments: ["--state", state, "--ack", "memory"])
    for _ in 0..<5 { _ = try fast.call("usage/increment", ["metric": "documents"]) }
    fast.closeInput()
    #expect(try fast.waitForExit() == 0)
    let again = try SidecarProcess(arguments: ["--state", state])
    #expect(try Self.documents(again) == 5)
  }

  @Test("two processes on one state directory converge: a change in one reaches the other's subscriber within 1 s")
  func twoProcesses() throws {
    let state = Self.stateDirectory()
    let watcher = try SidecarProcess(arguments: ["--state", state])
    let subscribed = try watcher.call("usage/subscribe", ["metrics": ["documents"]])
    #expect(subscribed["snapshot"]?["metrics"]?["documents"]?["used"] == 0)
    let writer = try SidecarProcess(arguments: ["--state", state])
    let started = Date()
    #expect(try writer.call("usage/increment", ["metric": "documents", "amount": 5])["used"] == 5)
    var seen: JSONData?
    while seen == nil && Date().timeIntervalSince(started) < 5 {
      let message = try watcher.nextMessage(timeout: 5)
      if message["method"] == "usage/changed", message["params"]?["metrics"]?["documents"]?["used"] == 5 {
        seen = message
      }
    }
    #expect(seen != nil)
    #expect(Date().timeIntervalSince(started) < 1.0)
    // And back: the watcher's own change reaches the writer.
    _ = try watcher.call("usage/increment", ["metric": "documents", "amount": 2])
    #expect(try Self.eventually { try Self.documents(writer) == 7 })
    // Tokens: the other process shows the same cost and breakdown, not only the same total.
    _ = try writer.call(
      "usage/increment", ["metric": "tokens", "input": 1_000, "output": 200, "labels": ["model": "gpt-4o"]])
    let written = try #require(try writer.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    #expect(
      try Self.eventually {
        let seen = try watcher.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"]
        return seen?["used"] == written["used"] && seen?["cost"] == written["cost"]
          && seen?["byModel"] == written["byModel"] && seen?["input"] == written["input"]
      })
  }

  @Test("usage/history sums the ledger's changes by model and by day, this burst's included")
  func history() throws {
    let sidecar = try SidecarProcess(arguments: ["--state", Self.stateDirectory()])
    for (model, input) in [("gpt-4o", 100), ("claude-3-haiku", 40), ("gpt-4o", 10)] {
      _ = try sidecar.call(
        "usage/increment",
        ["metric": "tokens", "input": .int(Int64(input)), "output": 0, "labels": ["model": .string(model)]])
    }
    let byModel = try sidecar.call("usage/history", ["metric": "tokens", "groupBy": "model"])
    #expect(byModel["groupBy"] == "model")
    #expect(
      byModel["rows"] == [
        [
          "metric": "tokens", "group": "claude-3-haiku", "total": 40, "changes": 1, "input": 40, "output": 0,
          "cacheRead": 0, "cacheWrite": 0, "cost": 0.00001, "currency": "USD",
        ],
        [
          "metric": "tokens", "group": "gpt-4o", "total": 110, "changes": 2, "input": 110, "output": 0, "cacheRead": 0,
          "cacheWrite": 0, "cost": 0.000275, "currency": "USD",
        ],
      ])
    let byDay = try sidecar.call("usage/history", ["metric": "tokens"])
    #expect(byDay["rows"]?.array?.count == 1)
    #expect(byDay["rows"]?[0]?["total"] == 150)
    let future = try sidecar.call("usage/history", ["metric": "tokens", "since": "2999-01-01"])
    #expect(future["rows"] == [])
    let bad = try sidecar.request("usage/history", ["metric": "tokens", "groupBy": ""])
    #expect(bad["error"]?["data"]?["field"] == "groupBy")
    let noLedger = try SidecarProcess(arguments: ["--no-state"])
    #expect(try noLedger.request("usage/history", ["metric": "tokens"])["error"]?["data"]?["reason"] == "noLedger")
  }

  @Test("a change made while its remote authority is away waits in the outbox and reaches it, once, when it is back")
  func outboxReplay() throws {
    let state = Self.stateDirectory()
    let plugins = try PluginFixtures.makeDirectory()
    let backend = plugins.appendingPathComponent("backend.json")
    try Data(#"{"seats": 5}"#.utf8).write(to: backend)
    func manifest(_ extra: [String]) throws {
      try ExecPluginTests.fixtureManifest(
        "billing", in: plugins, arguments: ["--metric", "seats", "--state", backend.path] + extra,
        extra: #", "timeoutMs": 60000"#)
    }
    func backendSeats() throws -> Int64? {
      let text = try String(contentsOf: backend, encoding: .utf8)
      return try JSONData(parsing: text)["seats"]?.int
    }
    let arguments = ["--state", state, "--no-default-plugins", "--plugins", plugins.path]

    // The backend takes no changes: the answer comes (the change is committed with its outbox entry), then the
    // process dies before the backend ever answers.
    try manifest(["--ignore-reports"])
    let away = try SidecarProcess(arguments: arguments)
    #expect(try away.call("usage/increment", ["metric": "seats", "amount": 3, "key": "order-9"])["used"] == 8)
    away.signal(SIGKILL)
    _ = try away.waitForExit()
    #expect(try backendSeats() == 5)

    // Back, and honouring keys: the next session counts the change as in flight and sends it again.
    try manifest(["--dedupe-keys"])
    let back = try SidecarProcess(arguments: arguments)
    #expect(try Self.eventually { try backendSeats() == 8 })
    #expect(
      try Self.eventually {
        let seats = try back.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"]
        return seats?["used"] == 8 && seats?["sync"]?["unconfirmed"] == 0
      })
    // Killed at once: whether or not its removal from the outbox was committed, the backend counts it once.
    back.signal(SIGKILL)
    _ = try back.waitForExit()
    let again = try SidecarProcess(arguments: arguments)
    #expect(
      try Self.eventually {
        try again.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"]?["sync"]?["unconfirmed"] == 0
      })
    usleep(300_000)
    #expect(try backendSeats() == 8)
    #expect(try again.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"]?["used"] == 8)
  }

  @Test("usagectx call runs one request on the state directory: a running session's subscriber sees it")
  func call() throws {
    let state = Self.stateDirectory()
    let sidecar = try SidecarProcess(arguments: ["--state", state])
    _ = try sidecar.call("usage/subscribe", ["metrics": ["requests"]])
    let recorded = try OneShotCommand.run([
      "call", "usage/increment", #"{"metric":"requests","amount":4}"#, "--state", state,
    ])
    #expect(recorded.status == 0)
    let result = try JSONData(parsing: recorded.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
    #expect(result["used"] == 4)
    #expect(
      try Self.eventually {
        try sidecar.call("usage/get", ["metrics": ["requests"]])["metrics"]?["requests"]?["used"] == 4
      })
    #expect(
      UsageSemanticsTests.named("usage/changed", sidecar.takeNotifications()).contains {
        $0["metrics"]?["requests"]?["used"] == 4
      })

    let refused = try OneShotCommand.run(["call", "usage/increment", #"{"metric":"nope"}"#, "--state", state])
    #expect(refused.status == 1)
    #expect(refused.stdout.isEmpty)
    #expect(try JSONData(parsing: refused.stderr.components(separatedBy: "\n")[0])["code"] == -32602)
    #expect(try OneShotCommand.run(["call", "usage/get", "not json", "--state", state]).status != 0)
  }

  @Test(
    "a commit that fails (the ledger locked past the busy timeout): the change gets an error, reads go on, a retry works"
  )
  func lockedLedger() throws {
    let state = Self.stateDirectory()
    let sidecar = try SidecarProcess(arguments: ["--state", state, "--busy-timeout", "200"])
    _ = try sidecar.call("initialize", [:])
    #expect(try sidecar.call("usage/increment", ["metric": "documents", "amount": 2])["used"] == 2)
    let lock = try DatabaseLock(path: state + "/usage.sqlite3")

    let refused = try sidecar.request("usage/increment", ["metric": "documents", "amount": 5, "key": "late-1"], id: 7)
    #expect(refused["id"] == 7)
    #expect(refused["error"]?["code"] == -32051)
    #expect(refused["error"]?["data"]?["reason"] == "notRecorded")
    #expect(refused["error"]?["data"]?["detail"]?.string?.contains(state) == true)
    // Reads go on, and show what is recorded.
    #expect(try Self.documents(sidecar) == 2)

    lock.release()
    // The key was not used up: the retry is applied.
    #expect(try sidecar.call("usage/increment", ["metric": "documents", "amount": 5, "key": "late-1"])["used"] == 7)
    sidecar.signal(SIGKILL)
    _ = try sidecar.waitForExit()
    #expect(try Self.documents(try SidecarProcess(arguments: ["--state", state])) == 7)
  }

  @Test("a daily metric's count comes back from the ledger after a restart")
  func periodAcrossRestart() throws {
    let state = Self.stateDirectory()
    let first = try SidecarProcess(arguments: ["--state", state])
    _ = try first.call("usage/increment", ["metric": "requests", "amount": 6])
    _ = try first.call("usage/decrement", ["metric": "requests", "amount": 2])
    first.closeInput()
    #expect(try first.waitForExit() == 0)
    let second = try SidecarProcess(arguments: ["--state", state])
    let requests = try second.call("usage/get", ["metrics": ["requests"]])["metrics"]?["requests"]
    #expect(requests?["used"] == 4)
    #expect(requests?["period"] == "daily")
  }

  @Test("several processes opening a new state directory at the same moment all start and all count")
  func simultaneousFirstOpen() throws {
    for _ in 0..<20 {
      let state = Self.stateDirectory()
      let count = 8
      let group = DispatchGroup()
      let results = ResultList()
      for _ in 0..<count {
        DispatchQueue.global().async(group: group) {
          let run = Result {
            try OneShotCommand.run(["call", "usage/increment", #"{"metric":"documents"}"#, "--state", state])
          }
          results.append(run)
        }
      }
      group.wait()
      for run in results.all {
        let command = try run.get()
        #expect(command.status == 0, "\(command.stderr)")
      }
      let last = try SidecarProcess(arguments: ["--state", state])
      #expect(try Self.documents(last) == Int64(count))
    }
  }

  /// Results gathered from several threads.
  final class ResultList: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<OneShotCommand, any Error>] = []
    func append(_ result: Result<OneShotCommand, any Error>) { lock.withLock { results.append(result) } }
    var all: [Result<OneShotCommand, any Error>] { lock.withLock { results } }
  }

  @Test("tokens come back after a restart with their fields, cost and per-model breakdown; a model's reset too")
  func tokensAcrossRestart() throws {
    let state = Self.stateDirectory()
    let first = try SidecarProcess(arguments: ["--state", state])
    for (model, input, output) in [("gpt-4o", 1_000, 500), ("claude-3-haiku", 2_000, 100), ("gpt-4o", 10, 5)] {
      _ = try first.call(
        "usage/increment",
        [
          "metric": "tokens", "input": .int(Int64(input)), "output": .int(Int64(output)),
          "labels": ["model": .string(model)],
        ])
    }
    _ = try first.call(
      "usage/increment", ["metric": "tokens", "input": 7, "output": 0, "labels": ["model": "house-model"]])
    let before = try #require(try first.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    first.closeInput()
    #expect(try first.waitForExit() == 0)

    let second = try SidecarProcess(arguments: ["--state", state])
    let after = try #require(try second.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    for member in ["used", "input", "output", "cost", "byModel", "unpriced"] {
      #expect(
        after[member] == before[member],
        "\(member): \(after[member]?.jsonText ?? "nil") vs \(before[member]?.jsonText ?? "nil")")
    }
    _ = try second.call("usage/reset", ["metric": "tokens", "labels": ["model": "gpt-4o"]])
    second.closeInput()
    #expect(try second.waitForExit() == 0)

    let third = try SidecarProcess(arguments: ["--state", state])
    let reset = try #require(try third.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    // The model's reset is a baseline of its entry; the period's total keeps what it used.
    #expect(reset["used"] == 3_622)
    #expect(reset["byModel"]?.objectMembers?.map(\.0) == ["claude-3-haiku", "house-model"])
    #expect(reset["input"] == 3_017)
    _ = try third.call("usage/reset", ["metric": "tokens"])
    third.closeInput()
    #expect(try third.waitForExit() == 0)
    let fourth = try SidecarProcess(arguments: ["--state", state])
    let cleared = try #require(try fourth.call("usage/get", ["metrics": ["tokens"]])["metrics"]?["tokens"])
    #expect(cleared["used"] == 0)
    #expect(cleared["cost"] == 0)
    #expect(cleared["byModel"] == [:])
    #expect(cleared["input"] == 0)
  }

  static func eventually(_ timeout: Double = 5, _ condition: () throws -> Bool) throws -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
      if try condition() { return true }
      usleep(50_000)
    }
    return try condition()
  }
}
