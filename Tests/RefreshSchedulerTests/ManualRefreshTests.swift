import RefreshScheduler
import Testing

/// `usage/refresh`: answered after the fetch completes, reusing a success within the dedupe window unless forced,
/// and cancellable.
@Suite("Manual refresh")
struct ManualRefreshTests {
  @Test("a success within the dedupe window is reused unless forced")
  func dedupeWindow() {
    let harness = Harness()
    harness.settle()
    harness.advance(1_999)
    #expect(harness.scheduler.requestRefresh(["a"], waiter: 1) == ["a": .reused])
    #expect(harness.due().isEmpty)
    #expect(harness.scheduler.requestRefresh(["a"], force: true, waiter: 2) == ["a": .pending])
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchSucceeded("a") == [2])
    harness.advance(seconds(2))
    #expect(harness.scheduler.requestRefresh(["a"], waiter: 3) == ["a": .pending])
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchSucceeded("a") == [3])
  }

  @Test("the caller is answered when the fetch completes, success or failure, not after retries")
  func answeredOnCompletion() {
    let harness = Harness(["a", "b"])
    harness.settle()
    harness.advance(seconds(3))
    #expect(harness.scheduler.requestRefresh(["a", "b", "a", "ghost"], waiter: 9) == ["a": .pending, "b": .pending])
    #expect(harness.due() == ["a": .manual, "b": .manual])
    #expect(harness.scheduler.fetchFailed("a", error: "boom").isEmpty)
    #expect(harness.scheduler.fetchFailed("b", error: "boom") == [9])
    #expect(harness.state("a").state == .error)
  }

  @Test("reused and pending keys mix; a failure is never reused")
  func mixed() {
    let harness = Harness(["a", "b"])
    #expect(harness.due() == ["a": .initial, "b": .initial])
    _ = harness.scheduler.fetchSucceeded("a")
    _ = harness.scheduler.fetchFailed("b", error: "down")
    harness.advance(500)
    // b's retry is not due yet: the manual refresh bypasses the backoff.
    #expect(harness.state("b").nextRefreshAt! > harness.clock.now())
    #expect(harness.scheduler.requestRefresh(["a", "b"], waiter: 1) == ["a": .reused, "b": .pending])
    #expect(harness.due() == ["b": .manual])
    #expect(harness.scheduler.fetchSucceeded("b") == [1])
  }

  @Test("a retry-after hint holds back even a forced refresh")
  func deferredByRetryAfter() {
    let harness = Harness()
    #expect(harness.due() == ["a": .initial])
    _ = harness.scheduler.fetchFailed("a", error: "429", retryAfter: seconds(120))
    harness.advance(seconds(60))
    let until = harness.at(seconds(120))
    #expect(harness.scheduler.requestRefresh(["a"], waiter: 1) == ["a": .deferred(until: until)])
    #expect(harness.scheduler.requestRefresh(["a"], force: true, waiter: 2) == ["a": .deferred(until: until)])
    #expect(harness.due().isEmpty)
    #expect(!harness.scheduler.cancel(waiter: 1))
  }

  @Test("a cancelled caller stops waiting; the fetch goes on for the others")
  func cancel() {
    let harness = Harness()
    harness.settle()
    harness.advance(seconds(5))
    _ = harness.scheduler.requestRefresh(["a"], waiter: 1)
    _ = harness.scheduler.requestRefresh(["a"], waiter: 2)
    #expect(harness.scheduler.cancel(waiter: 1))
    #expect(harness.due() == ["a": .manual])
    _ = harness.scheduler.requestRefresh(["a"], waiter: 3)
    #expect(harness.scheduler.cancel(waiter: 3))
    #expect(!harness.scheduler.cancel(waiter: 3))
    #expect(harness.scheduler.fetchSucceeded("a") == [2])

    // The last caller cancelling before the fetch starts does not stop it.
    harness.advance(seconds(5))
    _ = harness.scheduler.requestRefresh(["a"], waiter: 4)
    #expect(harness.scheduler.cancel(waiter: 4))
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchSucceeded("a").isEmpty)
  }

  @Test("removing a key answers those who waited only for it and ignores its late result")
  func removeKey() {
    let harness = Harness(["a", "b"])
    harness.settle()
    harness.advance(seconds(5))
    _ = harness.scheduler.requestRefresh(["a"], waiter: 1)
    _ = harness.scheduler.requestRefresh(["a", "b"], waiter: 2)
    #expect(harness.due() == ["a": .manual, "b": .manual])
    #expect(harness.scheduler.remove("a") == [1])
    #expect(harness.scheduler.remove("a").isEmpty)
    #expect(harness.scheduler.fetchSucceeded("a").isEmpty)
    #expect(harness.scheduler.syncState("a") == nil)
    #expect(harness.scheduler.keys == ["b"])
    #expect(harness.scheduler.fetchSucceeded("b") == [2])
    harness.scheduler.add("a")
    #expect(harness.due() == ["a": .initial])
  }
}
