/// Where the scheduler reads the time. Intervals only, never the calendar: implementations are monotonic.
public protocol SchedulerClock: Sendable {
  /// The current instant; never earlier than a previous answer.
  func now() -> SchedulerInstant
}
