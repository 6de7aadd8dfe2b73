import RefreshScheduler
import Testing

/// The sync state each key shows: idle, loading, error, with when it last synced and what comes next.
@Suite("Sync state")
struct SyncStateTests {
  @Test("a key goes idle → loading → error → loading → idle")
  func transitions() {
    let harness = Harness(policy: RefreshPolicy(backoff: Backoff(base: seconds(10), cap: seconds(10))))
    #expect(harness.state() == SyncState(state: .idle, nextRefreshAt: harness.at(0)))
    #expect(harness.due() == ["a": .initial])
    #expect(harness.state() == SyncState(state: .loading))

    harness.advance(seconds(2))
    _ = harness.scheduler.fetchFailed("a", error: "connection refused")
    let failed = harness.state()
    #expect(failed.state == .error)
    #expect(failed.attempt == 1)
    #expect(failed.error == "connection refused")
    #expect(failed.lastSyncedAt == nil)
    let retryAt = failed.nextRefreshAt!
    #expect(retryAt >= harness.at(seconds(2)) && retryAt <= harness.at(seconds(12)))

    harness.clock.advance(to: retryAt)
    #expect(harness.due() == ["a": .retry])
    #expect(harness.state() == SyncState(state: .loading, attempt: 1, error: "connection refused"))

    harness.advance(seconds(1))
    _ = harness.scheduler.fetchSucceeded("a")
    let now = harness.clock.now()
    #expect(harness.state() == SyncState(state: .idle, lastSyncedAt: now, nextRefreshAt: now + minutes(5)))
  }

  @Test("nextRefreshAt follows the client's focus and connectivity")
  func nextRefreshAt() {
    let harness = Harness()
    harness.settle()
    let periodic = harness.clock.now() + minutes(5)
    #expect(harness.state().nextRefreshAt == periodic)
    harness.scheduler.clientFocused(false)
    #expect(harness.state().nextRefreshAt == nil)
    harness.scheduler.mutated("a")
    #expect(harness.state().nextRefreshAt == harness.clock.now() + seconds(1))
    harness.scheduler.clientOnline(false)
    #expect(harness.state().nextRefreshAt == nil)
    harness.advance(seconds(3))
    harness.scheduler.clientOnline(true)
    // Back online: the reconnect fetch (and the overdue mutation refresh) is due now.
    #expect(harness.state().nextRefreshAt == harness.clock.now())
  }

  @Test("the status names match the protocol's")
  func names() {
    #expect([SyncState.Status.idle, .loading, .error].map(\.rawValue) == ["idle", "loading", "error"])
    #expect(RefreshReason.allCases.count == 7)
  }
}
