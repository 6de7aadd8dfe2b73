import RefreshScheduler
import Testing

/// One fetch at a time per key, shared by every caller and trigger.
@Suite("Single flight")
struct SingleFlightTests {
  @Test("100 concurrent manual refreshes of three metrics start one fetch per metric")
  func hundredCallers() {
    let keys = ["requests", "tokens", "storage"]
    let harness = Harness(keys)
    harness.settle()
    harness.advance(seconds(10))
    for waiter in UInt64(0)..<100 {
      // Every caller asks for all three; a third of them force.
      let answers = harness.scheduler.requestRefresh(keys, force: waiter % 3 == 0, waiter: WaiterID(waiter))
      #expect(answers == Dictionary(uniqueKeysWithValues: keys.map { ($0, .pending) }))
    }
    let fetches = harness.scheduler.dueFetches()
    #expect(fetches == keys.map { .init(key: $0, reason: .manual) })
    // Callers arriving while the fetches are in flight join them.
    for waiter in UInt64(100)..<150 {
      #expect(harness.scheduler.requestRefresh(keys, waiter: WaiterID(waiter)).values.allSatisfy { $0 == .pending })
      #expect(harness.scheduler.dueFetches().isEmpty)
    }
    // A caller is answered when the last of its metrics completes.
    #expect(harness.scheduler.fetchSucceeded("requests").isEmpty)
    #expect(harness.scheduler.fetchFailed("tokens", error: "timeout").isEmpty)
    #expect(harness.scheduler.fetchSucceeded("storage") == (0..<150).map { WaiterID($0) })
    #expect(harness.scheduler.fetchSucceeded("storage").isEmpty)
  }

  @Test("a key in flight is never returned again; the deadline ignores it")
  func inFlight() {
    let harness = Harness(policy: RefreshPolicy(interval: seconds(1)))
    #expect(harness.due() == ["a": .initial])
    harness.advance(minutes(10))
    harness.scheduler.mutated("a")
    _ = harness.scheduler.requestRefresh(["a"], force: true, waiter: 1)
    harness.advance(seconds(5))
    #expect(harness.scheduler.dueFetches().isEmpty)
    #expect(harness.nextDeadline == nil)
  }

  @Test("triggers due together share one fetch, reported under the strongest reason")
  func coalescing() {
    let harness = Harness()
    harness.settle()
    harness.advance(minutes(5))  // periodic due
    harness.scheduler.mutated("a")
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(2))  // mutation due
    harness.scheduler.clientFocused(true)  // focus due
    _ = harness.scheduler.requestRefresh(["a"], waiter: 7)  // manual due
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchSucceeded("a") == [7])
    #expect(harness.due().isEmpty)
    #expect(harness.nextDeadline == minutes(10) + seconds(2))
  }

  @Test("the order of due fetches is the order keys were added")
  func order() {
    let keys = (0..<20).map { "k\($0)" }
    let harness = Harness(keys.reversed())
    #expect(harness.scheduler.dueFetches().map(\.key) == keys.reversed())
    #expect(harness.scheduler.keys == keys.reversed())
  }
}
