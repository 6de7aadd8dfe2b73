/// How a metric's synchronisation with its authority stands, as clients see it (`usage/syncState`, and the `sync`
/// member of a metric's state). Set by whoever schedules the refreshes; the context only keeps and shows it.
public struct SyncStatus: Sendable, Equatable {
  /// The phase of the metric's synchronisation.
  public enum Phase: String, Sendable {
    /// Nothing in flight; the last read succeeded (or its error was reset).
    case idle
    /// A read is in flight.
    case loading
    /// The last read failed; a retry is scheduled unless the client is offline.
    case error
  }

  public var state: Phase
  /// When the last successful read completed.
  public let lastSyncedAt: Timestamp?
  /// When the next read is scheduled, if one is.
  public let nextRefreshAt: Timestamp?
  /// Failed reads in a row since the last success.
  public var attempt: Int
  /// Why the last read failed, until a success or a reset.
  public var error: String?
  /// The two moments in ISO 8601, formatted once rather than in every answer.
  public let lastSyncedAtText: String?
  public let nextRefreshAtText: String?

  public init(
    state: Phase, lastSyncedAt: Timestamp? = nil, nextRefreshAt: Timestamp? = nil, attempt: Int = 0,
    error: String? = nil
  ) {
    self.state = state
    self.lastSyncedAt = lastSyncedAt
    self.nextRefreshAt = nextRefreshAt
    self.attempt = attempt
    self.error = error
    lastSyncedAtText = lastSyncedAt?.iso8601
    nextRefreshAtText = nextRefreshAt?.iso8601
  }
}

/// The authority's number disagreed with what the context expected from the changes it knows of: someone else
/// changed the metric (another device), or a change the authority acknowledged did not land. The authority wins.
public struct Drift: Sendable, Equatable {
  public var metric: String
  /// What the context expected the authority to say: its previous number plus the changes it has taken since.
  public var expected: Int64
  /// What the authority said.
  public var authoritative: Int64
  /// `authoritative - expected`.
  public var delta: Int64

  public init(metric: String, expected: Int64, authoritative: Int64, delta: Int64) {
    self.metric = metric
    self.expected = expected
    self.authoritative = authoritative
    self.delta = delta
  }
}

/// A read of a metric's authority in progress: where it stood when the read started, so that a reading which may
/// miss a later change is recognised (see ``UsageContext/acceptReading(_:value:)``).
public struct ReadTicket: Sendable, Equatable {
  /// The metric's index.
  public let metric: Int
  /// The context's event number when the read started.
  let startedAt: UInt64
}

/// What became of a reading.
public enum ReadingResult: Sendable {
  /// The reading is the metric's authoritative value now; `drift` is set when it disagreed with what was expected.
  case accepted(MutationResult, drift: Drift?)
  /// The reading started before a change it may not include was settled; nothing changed.
  case stale
}
