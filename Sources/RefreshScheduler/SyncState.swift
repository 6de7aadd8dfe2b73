/// What a client sees of one key's synchronisation with its source.
public struct SyncState: Equatable, Sendable {
  /// The phase of the key.
  public enum Status: String, Sendable {
    /// Nothing in flight; the last fetch succeeded (or its error was reset).
    case idle
    /// A fetch is in flight (`error` still tells how the previous one failed, if it did).
    case loading
    /// The last fetch failed; a retry is scheduled unless the client is offline.
    case error
  }

  public var state: Status
  /// When the last successful fetch completed.
  public var lastSyncedAt: SchedulerInstant?
  /// The earliest instant a fetch is scheduled for, given the client's focus and connectivity now (never earlier
  /// than now: an overdue trigger is due now); `nil` when nothing is (hidden with no other trigger, offline, or
  /// periodic refresh off). While loading, only a follow-up (a mutation during the fetch) counts, and now means
  /// "as soon as this fetch ends".
  public var nextRefreshAt: SchedulerInstant?
  /// Consecutive failed fetches since the last success (0 after a success or a reset).
  public var attempt: Int
  /// The last failure's message, until a success or a reset.
  public var error: String?

  public init(
    state: Status, lastSyncedAt: SchedulerInstant? = nil, nextRefreshAt: SchedulerInstant? = nil, attempt: Int = 0,
    error: String? = nil
  ) {
    self.state = state
    self.lastSyncedAt = lastSyncedAt
    self.nextRefreshAt = nextRefreshAt
    self.attempt = attempt
    self.error = error
  }
}
