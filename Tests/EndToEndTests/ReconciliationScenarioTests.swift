import Foundation
import JSON
import Testing

/// The reconciliation scenarios end to end: usagectx with an exec plugin acting as the metric's authority (the
/// fixture program keeps the backend's number in a state file the test can rewrite, and can lose writes, go down,
/// answer slowly and count its fetches).
@Suite("Reconciliation scenarios")
struct ReconciliationScenarioTests {
  /// A session whose only metric, `seats`, is held by the fixture program; `initialize` turns notifications on and
  /// sets short refresh timings.
  struct Backend {
    let directory: URL
    let state: URL
    let fetches: URL
    let reports: URL
    let downFile: URL
    let sidecar: SidecarProcess

    init(
      start value: Int = 5, arguments: [String] = [], refresh: JSONData, framing: SidecarProcess.Framing = .newline
    ) throws {
      directory = try PluginFixtures.makeDirectory()
      state = directory.appendingPathComponent("state.json")
      fetches = directory.appendingPathComponent("fetches.jsonl")
      reports = directory.appendingPathComponent("reports.jsonl")
      downFile = directory.appendingPathComponent("down")
      try Data(#"{"seats": \#(value)}"#.utf8).write(to: state)
      try ExecPluginTests.fixtureManifest(
        "backend", in: directory,
        arguments: ["--metric", "seats", "--state", state.path, "--down-file", downFile.path] + arguments,
        extra: #", "env": {"FIXTURE_FETCHES": "\#(fetches.path)", "FIXTURE_REPORTS": "\#(reports.path)"}"#)
      sidecar = try SidecarProcess(
        framing: framing, arguments: ["--no-default-plugins", "--plugins", directory.path])
      _ = try sidecar.call("initialize", ["config": ["refresh": refresh]])
      // A new configuration has the plugin's metrics read again; the scenarios start once that read is done.
      let deadline = Date().addingTimeInterval(10)
      while Date() < deadline {
        let seats = try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"]
        if seats?["sync"]?["state"] == "idle" { break }
        usleep(20_000)
      }
    }

    /// What the backend holds now.
    var value: Int? {
      guard let data = try? Data(contentsOf: state), let text = String(data: data, encoding: .utf8),
        let json = try? JSONData(parsing: text)
      else { return nil }
      return json["seats"]?.int.map(Int.init)
    }

    /// Another device writes to the backend.
    func externalWrite(_ delta: Int) throws {
      let current = value ?? 0
      let temporary = directory.appendingPathComponent("state.tmp")
      try Data(#"{"seats": \#(current + delta)}"#.utf8).write(to: temporary)
      guard rename(temporary.path, state.path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }

    /// The monotonic times (ms) of the fetches so far.
    var fetchTimes: [Int64] {
      let text = (try? String(contentsOf: fetches, encoding: .utf8)) ?? ""
      return text.split(separator: "\n").compactMap { try? JSONData(parsing: String($0))["time"]?.int }
    }

    func seats() throws -> JSONData {
      try #require(try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"])
    }

    /// Reads messages until a notification `method` matching `accept` arrives; returns it (others are kept aside).
    func waitFor(
      _ method: String, timeout: Double = 10, where accept: (JSONData) -> Bool = { _ in true }
    ) throws -> JSONData {
      if let early = sidecar.takeNotifications().first(where: {
        $0["method"]?.string == method && accept($0["params"] ?? .null)
      }) {
        return early["params"] ?? .null
      }
      let deadline = Date().addingTimeInterval(timeout)
      while Date() < deadline {
        let message = try sidecar.nextMessage(timeout: deadline.timeIntervalSinceNow)
        if message["method"]?.string == method, accept(message["params"] ?? .null) { return message["params"] ?? .null }
      }
      throw SidecarProcess.Failure.closed("\(method) within \(timeout) s")
    }

    /// Waits until `condition` holds for the backend or the session (polling).
    func eventually(_ timeout: Double = 10, _ condition: () throws -> Bool) throws -> Bool {
      let deadline = Date().addingTimeInterval(timeout)
      while Date() < deadline {
        if try condition() { return true }
        usleep(20_000)
      }
      return try condition()
    }
  }

  @Test(
    "1. a backend that accepts the request but loses the usage write: optimistic value, then the correction and a drift",
    arguments: [SidecarProcess.Framing.newline, .contentLength])
  func lostWrite(framing: SidecarProcess.Framing) throws {
    let backend = try Backend(
      arguments: ["--lose-reports"], refresh: ["mutationDebounceMs": 200, "intervalMs": .null], framing: framing)
    _ = try backend.sidecar.call("usage/subscribe", ["metrics": ["seats"]])
    // The client sees the optimistic value at once.
    let answer = try backend.sidecar.call("usage/increment", ["metric": "seats", "amount": 3, "key": "order-1"])
    #expect(answer["used"] == 8)
    // The next refresh (after the debounce) corrects it, and says so.
    let drift = try backend.waitFor("usage/drift")
    #expect(drift == ["metric": "seats", "expected": 8, "authoritative": 5, "delta": -3])
    let seats = try backend.seats()
    #expect(seats["used"] == 5)
    #expect(seats["sync"]?["unconfirmed"] == 0)
    #expect(seats["sync"]?["state"] == "idle")
    // The write did reach the backend, with the client's key.
    let reports = try String(contentsOf: backend.reports, encoding: .utf8)
    #expect(reports.contains(#""key": "order-1""#))
    #expect(backend.value == 5)
  }

  @Test("2. another device increments the same account: the next focus refresh shows it, this device's change kept")
  func anotherDevice() throws {
    // Only focus reads the backend here: no periodic reads, and changes are not read back for a minute.
    let backend = try Backend(
      refresh: [
        "intervalMs": .null, "mutationDebounceMs": 60_000, "minimumUnfocusedMs": 100, "focusThrottleMs": 0,
        "dedupeWindowMs": 0,
      ])
    #expect(try backend.sidecar.call("usage/increment", ["metric": "seats", "amount": 2])["used"] == 7)
    #expect(try backend.eventually { backend.value == 7 })
    // Another device adds 10 while this one is in the background.
    try backend.sidecar.notify("client/focus", ["focused": false])
    try backend.externalWrite(10)
    usleep(200_000)
    // This device's next change is made just as the window comes back.
    _ = try backend.sidecar.call("usage/increment", ["metric": "seats", "amount": 1])
    try backend.sidecar.notify("client/focus", ["focused": true])
    let drift = try backend.waitFor("usage/drift")
    #expect(drift["delta"] == 10)
    #expect(drift["authoritative"] == 18)
    // 5 + 2 + 1 here, 10 there: nothing lost, nothing counted twice.
    #expect(try backend.eventually { try backend.seats()["used"] == 18 && backend.value == 18 })
    #expect(try backend.seats()["sync"]?["unconfirmed"] == 0)
  }

  @Test("3. the source is down: the numbers stay, retries back off with jitter, recovery clears the error")
  func sourceDown() throws {
    let backend = try Backend(
      refresh: ["intervalMs": .null, "backoffBaseMs": 100, "backoffCapMs": 400, "mutationDebounceMs": 60_000])
    _ = try backend.sidecar.call("usage/subscribe", ["metrics": ["seats"]])
    FileManager.default.createFile(atPath: backend.downFile.path, contents: Data())
    let firstFailure = backend.fetchTimes.count
    let failed = try backend.sidecar.call("usage/refresh", ["metrics": ["seats"], "force": true])
    let seats = try #require(failed["metrics"]?["seats"])
    #expect(seats["used"] == 5)
    #expect(seats["error"]?.string?.contains("the source is down") == true)
    #expect(seats["sync"]?["state"] == "error")
    #expect(seats["sync"]?["attempt"] == 1)
    // Retries follow by themselves, each after a random delay no longer than the backoff's ceiling.
    let fifth = try backend.waitFor("usage/syncState") { $0["attempt"] == 5 }
    #expect(fifth["state"] == "error")
    let times = Array(backend.fetchTimes[firstFailure...])
    #expect(times.count >= 5)
    let delays = zip(times.dropFirst(), times).map { $0 - $1 }
    for (attempt, delay) in delays.prefix(4).enumerated() {
      let ceiling = min(400, 100 << attempt)
      #expect(delay <= Int64(ceiling) + 500, "retry \(attempt + 1) came after \(delay) ms; ceiling \(ceiling) ms")
    }
    // The numbers stayed through it all.
    #expect(try backend.seats()["used"] == 5)
    // The source comes back: the next retry succeeds and clears the error.
    try FileManager.default.removeItem(at: backend.downFile)
    let recovered = try backend.waitFor("usage/syncState") { $0["state"] == "idle" }
    #expect(recovered["attempt"] == 0)
    #expect(recovered["error"] == .null)
    let after = try backend.seats()
    #expect(after["error"] == nil)
    #expect(after["used"] == 5)
  }

  @Test("4. a storm of 1,000 focus events and 100 concurrent refreshes: one fetch each")
  func storm() throws {
    // Reads take 300 ms, so the storm arrives while one is in flight.
    let backend = try Backend(
      arguments: ["--fetch-delay-ms", "300"],
      refresh: ["intervalMs": .null, "minimumUnfocusedMs": 0, "dedupeWindowMs": 0])
    #expect(try backend.eventually { !backend.fetchTimes.isEmpty })
    let before = backend.fetchTimes.count
    var storm = ""
    for round in 0..<1_000 {
      storm += #"{"jsonrpc":"2.0","method":"client/focus","params":{"focused":\#(round % 2 == 1)}}"# + "\n"
    }
    try backend.sidecar.sendRaw(storm)
    // The read starts at the end of the burst that carried the storm, and takes 300 ms.
    #expect(try backend.eventually { backend.fetchTimes.count > before })
    #expect(try backend.eventually { try backend.seats()["sync"]?["state"] == "idle" })
    usleep(300_000)
    #expect(backend.fetchTimes.count - before == 1)

    // 100 refreshes sent together share one read.
    let afterFocus = backend.fetchTimes.count
    var refreshes = ""
    for id in 0..<100 {
      refreshes += #"{"jsonrpc":"2.0","id":\#(id),"method":"usage/refresh","params":{"force":true}}"# + "\n"
    }
    try backend.sidecar.sendRaw(refreshes)
    var answered = Set<Int64>()
    while answered.count < 100 {
      let answer = try backend.sidecar.nextResponse()
      #expect(answer["result"]?["metrics"]?["seats"]?["used"] == 5)
      if let id = answer["id"]?.int { answered.insert(id) }
    }
    usleep(300_000)
    #expect(backend.fetchTimes.count - afterFocus == 1)
  }

  @Test("$/cancelRequest answers a waiting refresh with -32800; the read goes on; a waiting id cannot be reused")
  func cancelRefresh() throws {
    let backend = try Backend(arguments: ["--fetch-delay-ms", "500"], refresh: ["intervalMs": .null])
    let before = backend.fetchTimes.count
    try backend.sidecar.send(#"{"jsonrpc":"2.0","id":7,"method":"usage/refresh","params":{"force":true}}"#)
    try backend.sidecar.send(#"{"jsonrpc":"2.0","id":7,"method":"usage/get"}"#)
    let duplicate = try backend.sidecar.nextResponse()
    #expect(duplicate["id"] == 7)
    #expect(duplicate["error"]?["code"] == -32600)
    #expect(duplicate["error"]?["data"]?["reason"] == "duplicateId")
    try backend.sidecar.notify("$/cancelRequest", ["id": 7])
    let cancelled = try backend.sidecar.nextResponse()
    #expect(cancelled["id"] == 7)
    #expect(cancelled["error"]?["code"] == -32800)
    // The read was not stopped: it completes, and nothing else answers id 7.
    #expect(try backend.eventually { backend.fetchTimes.count == before + 1 })
    #expect(try backend.eventually { try backend.seats()["sync"]?["state"] == "idle" })
  }

  @Test("periodic reads follow the interval; offline there are no retries; coming back online reads once")
  func periodicAndOnline() throws {
    let backend = try Backend(
      refresh: ["intervalMs": 200, "backoffBaseMs": 50, "backoffCapMs": 100, "mutationDebounceMs": 60_000])
    let start = backend.fetchTimes.count
    usleep(1_100_000)
    let periodic = backend.fetchTimes.count - start
    #expect(periodic >= 2 && periodic <= 7, "\(periodic) periodic reads in 1.1 s at 200 ms")

    // Offline with the source down: nothing is read, not even retries.
    try backend.sidecar.notify("client/online", ["online": false])
    FileManager.default.createFile(atPath: backend.downFile.path, contents: Data())
    _ = try backend.seats()
    let offline = backend.fetchTimes.count
    usleep(700_000)
    #expect(backend.fetchTimes.count == offline)
    // Back online: one read at once (it fails, the source being down), then retries with the backoff.
    try FileManager.default.removeItem(at: backend.downFile)
    try backend.sidecar.notify("client/online", ["online": true])
    #expect(try backend.eventually { backend.fetchTimes.count > offline })
  }

  @Test("a source's retry-after holds back the next read, however short the backoff")
  func retryAfter() throws {
    let backend = try Backend(
      arguments: ["--down-retry-after-ms", "800"],
      refresh: ["intervalMs": .null, "backoffBaseMs": 10, "backoffCapMs": 20, "mutationDebounceMs": 60_000])
    FileManager.default.createFile(atPath: backend.downFile.path, contents: Data())
    let before = backend.fetchTimes.count
    let failed = try backend.sidecar.call("usage/refresh", ["metrics": ["seats"], "force": true])
    #expect(failed["metrics"]?["seats"]?["sync"]?["state"] == "error")
    #expect(try backend.eventually { backend.fetchTimes.count >= before + 2 })
    let times = Array(backend.fetchTimes[before...])
    #expect(times[1] - times[0] >= 790, "the retry came \(times[1] - times[0]) ms after the refused read")
  }
}
