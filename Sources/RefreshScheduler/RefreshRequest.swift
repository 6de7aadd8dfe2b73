/// How one key of a manual refresh is served.
public enum RefreshRequest: Equatable, Sendable {
  /// A fetch succeeded within the dedupe window and the call was not forced: answer now from it.
  case reused
  /// The caller waits for a fetch (one in flight, or one that ``RefreshScheduler/dueFetches()`` starts next): it
  /// is among the waiters returned when that fetch completes, success or failure.
  case pending
  /// The source asked not to be read before `until` (a retry-after hint), which even `force` honours: answer
  /// now with the current state.
  case deferred(until: SchedulerInstant)
}
