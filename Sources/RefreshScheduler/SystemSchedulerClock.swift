/// The process's continuous clock (`ContinuousClock`: monotonic, and on Linux still counting while the machine
/// sleeps, so a periodic refresh is overdue after a suspend), in milliseconds from the moment this value was
/// created.
///
/// It is the clock `StdioServer` polls with, so a deadline maps back exactly through ``continuousInstant(_:)``.
public struct SystemSchedulerClock: SchedulerClock {
  /// The continuous instant that is 0 ms on this clock.
  public let origin: ContinuousClock.Instant

  public init() { origin = ContinuousClock.now }

  public func now() -> SchedulerInstant {
    let elapsed = origin.duration(to: ContinuousClock.now).components
    return SchedulerInstant(milliseconds: elapsed.seconds * 1000 + elapsed.attoseconds / 1_000_000_000_000_000)
  }

  /// `instant` as an instant of `ContinuousClock` (for `StdioServer.nextTimerDeadline`).
  public func continuousInstant(_ instant: SchedulerInstant) -> ContinuousClock.Instant {
    origin.advanced(by: .milliseconds(instant.milliseconds))
  }
}
