import RefreshScheduler
import Testing

/// The periodic refresh: counted from the end of the previous fetch (SWR style), paused while the client is hidden
/// unless the policy says otherwise.
@Suite("Periodic refresh")
struct PeriodicRefreshTests {
  @Test("a key is read at once when added, then every interval after the previous fetch completed")
  func cadenceFromCompletion() {
    let harness = Harness(["a", "b"])
    #expect(harness.nextDeadline == 0)
    #expect(harness.scheduler.dueFetches() == [.init(key: "a", reason: .initial), .init(key: "b", reason: .initial)])
    #expect(harness.scheduler.dueFetches().isEmpty)
    #expect(harness.nextDeadline == nil)  // both in flight
    harness.advance(seconds(3))
    _ = harness.scheduler.fetchSucceeded("a")
    _ = harness.scheduler.fetchSucceeded("b")
    #expect(harness.nextDeadline == seconds(3) + minutes(5))

    let fetches = harness.run(for: minutes(16), latency: seconds(3)).filter { $0.key == "a" }
    // Each fetch takes 3 s; the next starts 5 min after it ended, so the cadence is 5 min 3 s.
    let interval = minutes(5) + seconds(3)
    #expect(fetches == (1...3).map { StartedFetch(at: $0 * interval, key: "a", reason: .periodic) })
  }

  @Test("a fetch slower than the interval never overlaps the next one")
  func noOverlap() {
    let harness = Harness(policy: RefreshPolicy(interval: seconds(10)))
    let fetches = harness.run(for: seconds(100), latency: seconds(25))
    #expect(fetches.map(\.at) == [0, seconds(35), seconds(70)])
    #expect(fetches.map(\.reason) == [.initial, .periodic, .periodic])
  }

  @Test("no periodic refresh while hidden; on return the overdue refresh happens once, then the cadence resumes")
  func pausedWhileHidden() {
    let harness = Harness()
    harness.settle()
    harness.scheduler.clientFocused(false)
    #expect(harness.state().nextRefreshAt == nil)
    #expect(harness.nextDeadline == nil)
    #expect(harness.run(for: minutes(30)).isEmpty)

    harness.scheduler.clientFocused(true)
    #expect(harness.state().nextRefreshAt == harness.clock.now())
    #expect(harness.due() == ["a": .focus])  // the focus trigger and the overdue periodic share one fetch
    _ = harness.scheduler.fetchSucceeded("a")
    let fetches = harness.run(for: minutes(11))
    #expect(
      fetches == [
        StartedFetch(at: minutes(35), key: "a", reason: .periodic),
        StartedFetch(at: minutes(40), key: "a", reason: .periodic),
      ])
  }

  @Test("hidden keys whose policy says refreshWhileHidden keep their cadence")
  func refreshWhileHidden() {
    let harness = Harness(["a"], policy: RefreshPolicy(refreshWhileHidden: true))
    harness.scheduler.add("b")
    harness.settle()
    harness.scheduler.clientFocused(false)
    let fetches = harness.run(for: minutes(15))
    #expect(fetches.map(\.key) == ["a", "a", "a"])
    #expect(fetches.map(\.at) == [minutes(5), minutes(10), minutes(15)])
    #expect(harness.state("b").nextRefreshAt == nil)
  }

  @Test("without an interval only the other triggers fetch")
  func intervalOff() {
    let harness = Harness(policy: RefreshPolicy(interval: nil))
    harness.settle()
    #expect(harness.nextDeadline == nil)
    #expect(harness.run(for: minutes(60)).isEmpty)
    harness.scheduler.mutated("a")
    #expect(harness.run(for: minutes(60)).map(\.reason) == [.mutation])
  }

  @Test("adding a key twice keeps its state and replaces its policy")
  func addTwice() {
    let harness = Harness()
    harness.settle()
    harness.scheduler.add("a", policy: RefreshPolicy(interval: seconds(30)))
    #expect(harness.scheduler.keys == ["a"])
    #expect(harness.scheduler.policy(of: "a")?.interval == seconds(30))
    #expect(harness.nextDeadline == seconds(30))
    #expect(harness.scheduler.policy(of: "zzz") == nil)
  }
}
