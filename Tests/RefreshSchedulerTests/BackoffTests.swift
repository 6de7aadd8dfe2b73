import TestSupport
import RefreshScheduler
import Testing

/// Full-jitter exponential backoff: `uniform(0, min(cap, base·2ⁿ))`, at least the retry-after hint.
@Suite("Backoff")
struct BackoffTests {
  let backoff = Backoff()

  @Test("the ceiling doubles from the base and stops at the cap, without overflow")
  func ceilings() {
    #expect(backoff == Backoff(base: 1_000, cap: 300_000))
    #expect(
      (0...9).map { backoff.ceiling(attempt: $0) } == [
        1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000,
      ])
    #expect(backoff.ceiling(attempt: 62) == 300_000)
    #expect(backoff.ceiling(attempt: 1_000) == 300_000)
    #expect(backoff.ceiling(attempt: -3) == 1_000)
    #expect(Backoff(base: .max, cap: .max).ceiling(attempt: 5) == .max)
    #expect(Backoff(base: 0, cap: 10).ceiling(attempt: 4) == 0)
    #expect(Backoff(base: -5, cap: -1).ceiling(attempt: 0) == 0)
  }

  @Test("every delay lies in [0, min(cap, base·2ⁿ)] over many seeds")
  func delaysWithinCeiling() {
    for seed in UInt64(0)..<300 {
      var generator = SeededGenerator(seed: seed)
      for attempt in 0..<20 {
        let delay = backoff.delay(attempt: attempt, using: &generator)
        #expect((0...backoff.ceiling(attempt: attempt)).contains(delay), "seed \(seed), attempt \(attempt)")
      }
    }
  }

  @Test("the jitter is full: uniform over the whole range, not bunched near the ceiling")
  func fullJitter() {
    var generator = SeededGenerator(seed: 42)
    let draws = (0..<20_000).map { _ in backoff.delay(attempt: 3, using: &generator) }
    let mean = Double(draws.reduce(0, +)) / Double(draws.count)
    #expect(abs(mean - 4_000) < 80)  // uniform(0, 8000) has mean 4000; the standard error here is ~16
    #expect(draws.min()! < 80)
    #expect(draws.max()! > 7_920)
    let lowerQuarter = draws.filter { $0 < 2_000 }.count
    #expect(abs(Double(lowerQuarter) / Double(draws.count) - 0.25) < 0.02)
  }

  @Test("a retry-after hint is a floor, even above the cap")
  func retryAfter() {
    for seed in UInt64(0)..<200 {
      var generator = SeededGenerator(seed: seed)
      #expect(backoff.delay(attempt: 0, retryAfter: 120_000, using: &generator) == 120_000)
      let late = backoff.delay(attempt: 12, retryAfter: 120_000, using: &generator)
      #expect((120_000...300_000).contains(late))
      #expect(backoff.delay(attempt: 30, retryAfter: 3_600_000, using: &generator) == 3_600_000)
      #expect((0...1_000).contains(backoff.delay(attempt: 0, retryAfter: nil, using: &generator)))
    }
  }

  @Test("the delay is a pure function of the attempt and the random source")
  func deterministic() {
    var first = SeededGenerator(seed: 7)
    var second = SeededGenerator(seed: 7)
    let a = (0..<12).map { backoff.delay(attempt: $0, using: &first) }
    let b = (0..<12).map { backoff.delay(attempt: $0, using: &second) }
    #expect(a == b)
    var other = SeededGenerator(seed: 8)
    #expect(a != (0..<12).map { backoff.delay(attempt: $0, using: &other) })
  }
}
