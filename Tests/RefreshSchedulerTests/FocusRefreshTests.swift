import RefreshScheduler
import Testing

/// Focus-triggered refresh: only after the client was unfocused long enough, throttled, and never a second fetch
/// while one is in flight or fresh.
@Suite("Focus refresh")
struct FocusRefreshTests {
  /// A harness whose initial reads are done, with the last one older than the dedupe window.
  static func settled(_ keys: [String] = ["a"], policy: RefreshPolicy = RefreshPolicy()) -> Harness {
    let harness = Harness(keys, policy: policy)
    harness.settle()
    harness.advance(seconds(10))
    return harness
  }

  @Test("regaining focus after at least the minimum unfocused time fetches")
  func minimumUnfocused() {
    let harness = Self.settled()
    harness.scheduler.clientFocused(false)
    harness.advance(999)
    harness.scheduler.clientFocused(true)
    #expect(harness.due().isEmpty)
    #expect(harness.nextDeadline == minutes(5))

    harness.scheduler.clientFocused(false)
    harness.advance(1_000)
    harness.scheduler.clientFocused(true)
    #expect(harness.due() == ["a": .focus])
  }

  @Test("a focus-triggered fetch is throttled for focusThrottle after it started")
  func throttle() {
    let harness = Self.settled(policy: RefreshPolicy(minimumUnfocused: 0))
    func blink(away: Milliseconds) -> [String: RefreshReason] {
      harness.scheduler.clientFocused(false)
      harness.advance(away)
      harness.scheduler.clientFocused(true)
      let due = harness.due()
      for key in due.keys { _ = harness.scheduler.fetchSucceeded(key) }
      return due
    }
    #expect(blink(away: seconds(1)) == ["a": .focus])  // started at 11 s
    harness.advance(seconds(1))
    #expect(blink(away: seconds(2)) == [:])  // 14 s: within the 5 s throttle, and past the 2 s dedupe window
    #expect(blink(away: 1_999) == [:])  // 15.999 s
    #expect(blink(away: 1) == ["a": .focus])  // 16 s: the throttle is over
  }

  @Test("focus neither joins a fetch in flight nor follows it, nor refetches fresh data")
  func satisfiedByOtherFetches() {
    let harness = Self.settled()
    harness.scheduler.mutated("a")
    harness.advance(seconds(1))
    #expect(harness.due() == ["a": .mutation])
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(2))
    harness.scheduler.clientFocused(true)
    #expect(harness.due().isEmpty)
    _ = harness.scheduler.fetchSucceeded("a")
    #expect(harness.due().isEmpty)
    #expect(harness.state().nextRefreshAt == harness.clock.now() + minutes(5))

    harness.advance(1_500)
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(1))
    harness.scheduler.clientFocused(true)  // 2.5 s after the success: past the dedupe window
    #expect(harness.due() == ["a": .focus])
    _ = harness.scheduler.fetchSucceeded("a")
    harness.advance(seconds(6))
    _ = harness.scheduler.requestRefresh(["a"], force: true, waiter: 1)
    #expect(harness.due() == ["a": .manual])
    _ = harness.scheduler.fetchSucceeded("a")
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(1))
    harness.scheduler.clientFocused(true)  // 1 s after a success: fresh
    #expect(harness.due().isEmpty)
  }

  @Test("focus(true) while focused, and the first focus of the session, trigger nothing")
  func repeats() {
    let harness = Self.settled()
    harness.scheduler.clientFocused(true)
    #expect(harness.due().isEmpty)
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(1))
    harness.scheduler.clientFocused(false)  // a repeat does not restart the unfocused time
    harness.scheduler.clientFocused(true)
    #expect(harness.due() == ["a": .focus])
    #expect(harness.scheduler.isFocused)
  }

  @Test("refreshOnFocus false ignores focus; the policy is per key")
  func perKey() {
    let harness = Self.settled(["a"], policy: RefreshPolicy(refreshOnFocus: false))
    harness.scheduler.add("b", policy: RefreshPolicy(minimumUnfocused: seconds(10)))
    harness.scheduler.add("c", policy: RefreshPolicy(minimumUnfocused: 0))
    harness.settle()
    harness.advance(seconds(3))
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(5))
    harness.scheduler.clientFocused(true)
    #expect(harness.due() == ["c": .focus])
  }

  @Test("a storm of 1,000 focus events fetches each metric once")
  func storm() {
    let keys = ["requests", "tokens", "storage"]
    let harness = Self.settled(keys)
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(30))
    var fetches: [String] = []
    for event in 0..<1_000 {
      harness.scheduler.clientFocused(event.isMultiple(of: 2))
      harness.advance(3)
      for fetch in harness.scheduler.dueFetches() {
        fetches.append(fetch.key)
        // Half the fetches are still in flight during the rest of the storm; the others end at once.
        if fetch.key != "tokens" { _ = harness.scheduler.fetchSucceeded(fetch.key) }
      }
    }
    #expect(fetches.sorted() == keys.sorted())
    #expect(harness.state("tokens").state == .loading)
  }
}
