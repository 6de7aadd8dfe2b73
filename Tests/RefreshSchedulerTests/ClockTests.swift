import RefreshScheduler
import Testing

/// Instants, the manual clock tests drive, and the system clock the session uses.
@Suite("Clocks")
struct ClockTests {
  @Test("instant arithmetic saturates instead of trapping")
  func instants() {
    let instant = SchedulerInstant(milliseconds: 1_000)
    #expect(instant + 500 == SchedulerInstant(milliseconds: 1_500))
    #expect((instant + 500) - instant == 500)
    #expect(instant - (instant + 500) == -500)
    #expect(instant + .max == SchedulerInstant(milliseconds: .max))
    #expect(SchedulerInstant(milliseconds: .min) - instant == .min)
    #expect(SchedulerInstant(milliseconds: .max) - SchedulerInstant(milliseconds: -1) == .max)
    #expect(instant < instant + 1)
    #expect("\(instant)" == "1000 ms")
  }

  @Test("the manual clock moves only when told, and never back")
  func manual() {
    let clock = ManualSchedulerClock(SchedulerInstant(milliseconds: 5))
    #expect(clock.now() == SchedulerInstant(milliseconds: 5))
    clock.advance(by: 995)
    #expect(clock.now() == SchedulerInstant(milliseconds: 1_000))
    clock.advance(to: SchedulerInstant(milliseconds: 400))
    #expect(clock.now() == SchedulerInstant(milliseconds: 1_000))
    clock.advance(to: SchedulerInstant(milliseconds: 4_000))
    #expect(clock.now() == SchedulerInstant(milliseconds: 4_000))
    #expect(ManualSchedulerClock().now() == SchedulerInstant(milliseconds: 0))
  }

  @Test("the system clock starts near 0, never goes back, and maps onto ContinuousClock")
  func system() {
    let clock = SystemSchedulerClock()
    var previous = clock.now()
    #expect(previous.milliseconds >= 0 && previous.milliseconds < 1_000)
    for _ in 0..<1_000 {
      let next = clock.now()
      #expect(next >= previous)
      previous = next
    }
    let mapped = clock.continuousInstant(SchedulerInstant(milliseconds: 250))
    #expect(clock.origin.duration(to: mapped) == .milliseconds(250))
    let drift = clock.continuousInstant(clock.now()).duration(to: ContinuousClock.now)
    #expect(drift >= .zero && drift < .seconds(1))
  }
}
