import RefreshScheduler
import Testing

/// Connectivity: nothing automatic while offline (no periodic refresh, no retries), one fetch per key on reconnect.
@Suite("Online and offline")
struct OnlineRefreshTests {
  @Test("offline: no periodic refresh; online again: exactly one fetch per key, then the cadence")
  func reconnect() {
    let harness = Harness(["a", "b", "c"])
    harness.settle()
    harness.scheduler.clientOnline(false)
    #expect(!harness.scheduler.isOnline)
    #expect(harness.nextDeadline == nil)
    #expect(harness.state("a").nextRefreshAt == nil)
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(5))
    harness.scheduler.clientFocused(true)  // focus while offline is ignored
    #expect(harness.run(for: minutes(20)).isEmpty)

    harness.scheduler.clientOnline(true)
    harness.scheduler.clientOnline(true)
    let fetches = harness.run(for: minutes(5) - 1)
    #expect(fetches == ["a", "b", "c"].map { StartedFetch(at: minutes(20) + seconds(5), key: $0, reason: .reconnect) })
    #expect(harness.run(for: 1).map(\.reason) == [.periodic, .periodic, .periodic])
  }

  @Test("a failure while offline is not retried until the client is online again")
  func noRetriesOffline() {
    let harness = Harness()
    #expect(harness.due() == ["a": .initial])
    harness.scheduler.clientOnline(false)
    _ = harness.scheduler.fetchFailed("a", error: "network down")
    #expect(harness.state().state == .error)
    #expect(harness.state().nextRefreshAt == nil)
    #expect(harness.run(for: minutes(30)).isEmpty)

    harness.scheduler.clientOnline(true)
    // The retry was overdue: it is the one fetch of the reconnect.
    let fetches = harness.run(for: seconds(10), outcome: { _ in .success })
    #expect(fetches == [StartedFetch(at: minutes(30), key: "a", reason: .retry)])
    #expect(harness.state().attempt == 0)
  }

  @Test("reconnecting before the backoff is over waits for the retry; the retry-after hint still holds")
  func reconnectDuringBackoff() {
    let harness = Harness()
    #expect(harness.due() == ["a": .initial])
    _ = harness.scheduler.fetchFailed("a", error: "429", retryAfter: seconds(120))
    harness.scheduler.clientOnline(false)
    harness.advance(seconds(30))
    harness.scheduler.clientOnline(true)
    #expect(harness.due().isEmpty)
    #expect(harness.state().nextRefreshAt == harness.at(seconds(120)))
    #expect(harness.run(for: minutes(3)).first == StartedFetch(at: seconds(120), key: "a", reason: .retry))
  }

  @Test("flapping connectivity during a fetch adds no fetch; a fresh success satisfies the reconnect")
  func flapping() {
    let harness = Harness()
    #expect(harness.due() == ["a": .initial])
    for _ in 0..<50 {
      harness.scheduler.clientOnline(false)
      harness.advance(10)
      harness.scheduler.clientOnline(true)
    }
    #expect(harness.due().isEmpty)
    _ = harness.scheduler.fetchSucceeded("a")
    harness.advance(1_000)
    harness.scheduler.clientOnline(false)
    harness.scheduler.clientOnline(true)
    #expect(harness.due().isEmpty)
    harness.advance(1_000)
    harness.scheduler.clientOnline(false)
    harness.scheduler.clientOnline(true)
    #expect(harness.due() == ["a": .reconnect])
  }

  @Test("mutations and the initial read made while offline join the reconnect fetch")
  func coalescedIntoReconnect() {
    let harness = Harness(["a"])
    harness.scheduler.clientOnline(false)
    harness.scheduler.add("b")
    harness.scheduler.mutated("a")
    harness.advance(seconds(5))
    harness.scheduler.mutated("a")
    harness.advance(seconds(5))
    harness.scheduler.clientOnline(true)
    #expect(harness.due() == ["a": .reconnect, "b": .reconnect])
    #expect(harness.scheduler.dueFetches().isEmpty)
  }

  @Test("a manual refresh still reads while offline, and its failure is not retried offline")
  func manualWhileOffline() {
    let harness = Harness()
    harness.settle()
    harness.scheduler.clientOnline(false)
    harness.advance(seconds(3))
    #expect(harness.scheduler.requestRefresh(["a"], waiter: 1) == ["a": .pending])
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchFailed("a", error: "offline") == [1])
    #expect(harness.nextDeadline == nil)
  }

  @Test("keys whose policy says refreshWhileOffline ignore connectivity")
  func refreshWhileOffline() {
    let harness = Harness(["local"], policy: RefreshPolicy(refreshWhileOffline: true))
    harness.scheduler.add("remote")
    harness.settle()
    harness.scheduler.clientOnline(false)
    #expect(harness.run(for: minutes(10)).map(\.key) == ["local", "local"])
    harness.scheduler.clientOnline(true)
    #expect(harness.due() == ["remote": .reconnect])
  }
}
