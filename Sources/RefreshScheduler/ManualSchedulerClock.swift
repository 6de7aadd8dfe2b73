import Synchronization

/// A clock that moves only when told to: tests and replayed transcripts drive every rule with it, without sleeping.
public final class ManualSchedulerClock: SchedulerClock {
  private let current: Mutex<SchedulerInstant>

  /// A clock reading `start` until it is moved.
  public init(_ start: SchedulerInstant = SchedulerInstant(milliseconds: 0)) { current = Mutex(start) }

  public func now() -> SchedulerInstant { current.withLock { $0 } }

  /// Moves the clock forward by `duration` (never backward: a monotonic clock does not go back).
  public func advance(by duration: Milliseconds) {
    precondition(duration >= 0, "a monotonic clock does not go back")
    current.withLock { $0 = $0 + duration }
  }

  /// Moves the clock forward to `instant`; an earlier instant leaves it where it is.
  public func advance(to instant: SchedulerInstant) { current.withLock { $0 = max($0, instant) } }
}
