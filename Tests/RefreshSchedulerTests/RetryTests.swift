import TestSupport
import RefreshScheduler
import Testing

/// Failures: retries after a full-jitter backoff, honouring the source's retry-after, reset by a success; other
/// automatic triggers wait for the retry, a manual refresh does not.
@Suite("Retries")
struct RetryTests {
  @Test("retries follow the backoff of the same seed, attempt by attempt, up to the cap")
  func backoffSequence() {
    let seed: UInt64 = 99
    let harness = Harness(seed: seed)
    let fetches = harness.run(for: minutes(60), latency: 200, outcome: { _ in .failure("503") })
    var generator = SeededGenerator(seed: seed)
    var expected: [Milliseconds] = [0]
    for attempt in 0..<(fetches.count - 1) {
      expected.append(expected.last! + 200 + Backoff().delay(attempt: attempt, using: &generator))
    }
    #expect(fetches.map(\.at) == expected)
    #expect(fetches.dropFirst().allSatisfy { $0.reason == .retry })
    #expect(fetches.count > 15)
    let gaps = zip(fetches.dropFirst(), fetches).map { $0.at - $1.at - 200 }
    #expect(gaps.allSatisfy { $0 <= minutes(5) })
    #expect(harness.state().attempt == fetches.count)
  }

  @Test("every retry lands within [0, min(cap, base·2ⁿ)] after the failure, over many seeds")
  func retryWindow() {
    for seed in UInt64(0)..<100 {
      let harness = Harness(seed: seed)
      #expect(harness.due() == ["a": .initial])
      for attempt in 0..<12 {
        _ = harness.scheduler.fetchFailed("a", error: "down")
        let next = harness.state().nextRefreshAt! - harness.clock.now()
        #expect((0...Backoff().ceiling(attempt: attempt)).contains(next), "seed \(seed), attempt \(attempt)")
        #expect(harness.state().attempt == attempt + 1)
        harness.advance(next)
        #expect(harness.due() == ["a": .retry])
      }
    }
  }

  @Test("no attempt before the source's retry-after")
  func retryAfterHonoured() {
    let harness = Harness()
    let fetches = harness.run(for: minutes(10)) { fetch in
      fetch.at < seconds(200) ? .failure("429", retryAfter: seconds(120)) : .success
    }
    #expect(fetches.map(\.at) == [0, seconds(120), seconds(240), seconds(240) + minutes(5)])
    #expect(fetches.map(\.reason) == [.initial, .retry, .retry, .periodic])
    #expect(harness.state().attempt == 0)
  }

  @Test("a success resets the attempt, the error and the hint; the periodic refresh resumes")
  func resetOnSuccess() {
    let harness = Harness()
    var failures = 3
    let fetches = harness.run(for: minutes(6)) { _ in
      failures -= 1
      return failures >= 0 ? .failure("flaky") : .success
    }
    #expect(fetches.map(\.reason) == [.initial, .retry, .retry, .retry, .periodic])
    let synced = harness.at(fetches[4].at)
    #expect(harness.state() == SyncState(state: .idle, lastSyncedAt: synced, nextRefreshAt: synced + minutes(5)))
    // A new failure starts again from the first backoff step.
    _ = harness.scheduler.requestRefresh(["a"], force: true, waiter: 1)
    #expect(harness.due() == ["a": .manual])
    _ = harness.scheduler.fetchFailed("a", error: "again")
    #expect(harness.state().attempt == 1)
    #expect(harness.state().nextRefreshAt! - harness.clock.now() <= 1_000)
  }

  @Test("focus, reconnect and mutations wait for the retry; a manual refresh goes first")
  func automaticTriggersWait() {
    let backoff = Backoff(base: minutes(1), cap: minutes(1))
    let harness = Harness(
      policy: RefreshPolicy(backoff: backoff), seed: seed(drawingMoreThan: seconds(10), from: backoff))
    #expect(harness.due() == ["a": .initial])
    _ = harness.scheduler.fetchFailed("a", error: "down")
    let retryAt = harness.state().nextRefreshAt!
    #expect(retryAt > harness.clock.now() + seconds(10))

    harness.scheduler.mutated("a")
    harness.scheduler.clientFocused(false)
    harness.advance(seconds(3))
    harness.scheduler.clientFocused(true)
    harness.scheduler.clientOnline(false)
    harness.scheduler.clientOnline(true)
    #expect(harness.nextDeadline == retryAt - harness.origin)
    harness.advance(seconds(3))
    #expect(harness.due().isEmpty)

    #expect(harness.scheduler.requestRefresh(["a"], waiter: 1) == ["a": .pending])
    #expect(harness.due() == ["a": .manual])
    #expect(harness.scheduler.fetchFailed("a", error: "still down") == [1])
    #expect(harness.state().attempt == 2)
    // The manual fetch started after the mutation's debounce: nothing but the new retry is left.
    let fetches = harness.run(for: minutes(2), outcome: { _ in .success })
    #expect(fetches.map(\.reason) == [.retry])
  }

  @Test("a mutation during the backoff is served by the retry, not before")
  func mutationJoinsRetry() {
    let backoff = Backoff(base: seconds(30), cap: seconds(30))
    let harness = Harness(
      policy: RefreshPolicy(backoff: backoff), seed: seed(drawingMoreThan: seconds(3), from: backoff))
    #expect(harness.due() == ["a": .initial])
    _ = harness.scheduler.fetchFailed("a", error: "down")
    let retry = harness.state().nextRefreshAt! - harness.origin
    #expect(retry > seconds(3))
    harness.advance(seconds(1))
    harness.scheduler.mutated("a")
    let fetches = harness.run(for: minutes(1))
    #expect(fetches == [StartedFetch(at: retry, key: "a", reason: .retry)])
  }

  @Test("resetting the error forgets the backoff and resumes the periodic refresh")
  func resetError() {
    let harness = Harness()
    #expect(harness.due() == ["a": .initial])
    harness.advance(seconds(1))
    _ = harness.scheduler.fetchFailed("a", error: "down")
    harness.scheduler.resetError("a")
    harness.scheduler.resetError("ghost")
    #expect(harness.state() == SyncState(state: .idle, nextRefreshAt: harness.at(seconds(1) + minutes(5))))
    #expect(harness.run(for: minutes(5) + seconds(1)).map(\.reason) == [.periodic])
  }

  @Test("results for keys not in flight are ignored")
  func strayResults() {
    let harness = Harness()
    harness.settle()
    #expect(harness.scheduler.fetchFailed("a", error: "late").isEmpty)
    #expect(harness.scheduler.fetchSucceeded("ghost").isEmpty)
    #expect(harness.state().state == .idle)
  }
}
