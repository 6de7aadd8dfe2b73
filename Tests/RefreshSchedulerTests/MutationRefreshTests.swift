import RefreshScheduler
import Testing

/// The refresh after mutations: debounced to one debounce after the last mutation of a burst, and one follow-up
/// for mutations made while a fetch is in flight.
@Suite("Refresh after mutations")
struct MutationRefreshTests {
  static func settled(policy: RefreshPolicy = RefreshPolicy()) -> Harness {
    let harness = Harness(["a", "b"], policy: policy)
    harness.settle()
    harness.advance(seconds(10))
    return harness
  }

  @Test("a burst fetches once, one debounce after its last mutation")
  func burst() {
    let harness = Self.settled()
    for _ in 0..<4 {
      harness.scheduler.mutated("a")
      harness.advance(300)
    }
    #expect(harness.state("a").nextRefreshAt == harness.at(seconds(10) + 900 + 1_000))
    #expect(harness.state("b").nextRefreshAt == harness.at(minutes(5)))
    let fetches = harness.run(for: seconds(60))
    #expect(fetches == [StartedFetch(at: seconds(10) + 1_900, key: "a", reason: .mutation)])
  }

  @Test("mutations more than a debounce apart each fetch")
  func separateMutations() {
    let harness = Self.settled()
    var fetches: [StartedFetch] = []
    for _ in 0..<5 {
      harness.scheduler.mutated("b")
      fetches += harness.run(for: 1_500)
    }
    #expect(fetches.map(\.at) == (0..<5).map { seconds(11) + $0 * 1_500 })
    #expect(Set(fetches.map(\.reason)) == [.mutation])
    #expect(Set(fetches.map(\.key)) == ["b"])
  }

  @Test("a steady stream closer than the debounce waits for its end, unless a maximum wait is set")
  func steadyStream() {
    let harness = Self.settled()
    var fetches: [StartedFetch] = []
    for _ in 0..<20 {
      harness.scheduler.mutated("a")
      fetches += harness.run(for: 500)
    }
    #expect(fetches.isEmpty)
    #expect(harness.run(for: 500) == [StartedFetch(at: seconds(20) + 500, key: "a", reason: .mutation)])

    let capped = Self.settled(policy: RefreshPolicy(mutationMaxWait: seconds(3)))
    var cappedFetches: [StartedFetch] = []
    for _ in 0..<20 {
      capped.scheduler.mutated("a")
      cappedFetches += capped.run(for: 500)
    }
    #expect(cappedFetches.map(\.at) == [seconds(13), seconds(16), seconds(19)])
  }

  @Test("mutations during a long fetch bring exactly one follow-up, right after it")
  func followUpAfterLongFetch() {
    let harness = Self.settled()
    _ = harness.scheduler.requestRefresh(["a"], waiter: 1)
    #expect(harness.due() == ["a": .manual])
    for _ in 0..<10 {
      harness.advance(100)
      harness.scheduler.mutated("a")
    }
    harness.advance(seconds(5))
    #expect(harness.due().isEmpty)  // single flight
    #expect(harness.state("a").state == .loading)
    #expect(harness.state("a").nextRefreshAt == harness.clock.now())  // the debounce is over: right after this fetch
    #expect(harness.scheduler.fetchSucceeded("a") == [1])
    #expect(harness.due() == ["a": .mutation])
    _ = harness.scheduler.fetchSucceeded("a")
    #expect(harness.run(for: minutes(5) - 1).filter { $0.key == "a" }.isEmpty)
  }

  @Test("a mutation during a short fetch still fetches one debounce after it")
  func followUpAfterShortFetch() {
    let harness = Self.settled()
    _ = harness.scheduler.requestRefresh(["a"], waiter: 1)
    #expect(harness.due() == ["a": .manual])
    harness.advance(100)
    harness.scheduler.mutated("a")
    harness.advance(100)
    _ = harness.scheduler.fetchSucceeded("a")
    #expect(harness.run(for: seconds(10)) == [StartedFetch(at: seconds(11) + 100, key: "a", reason: .mutation)])
  }

  @Test("a mutation pending when another fetch starts is not consumed before its time")
  func notConsumedEarly() {
    let harness = Self.settled()
    harness.scheduler.mutated("a")
    harness.advance(500)
    _ = harness.scheduler.requestRefresh(["a"], force: true, waiter: 1)
    #expect(harness.due() == ["a": .manual])
    _ = harness.scheduler.fetchSucceeded("a")
    #expect(harness.run(for: seconds(5)) == [StartedFetch(at: seconds(11), key: "a", reason: .mutation)])
  }

  @Test("mutations of unknown keys are ignored")
  func unknownKey() {
    let harness = Self.settled()
    harness.scheduler.mutated("nope")
    #expect(harness.nextDeadline == minutes(5))
  }
}
