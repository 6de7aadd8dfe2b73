import Synchronization
public import UsageCore

/// The account beyond one burst: statements of their own outside the bursts' transactions (the tier, history),
/// the notifications of other devices, and the delivery of what was changed offline.
extension SharedLedger {
  /// Runs `body` with the connection and the account's id, outside a burst's transaction; throws while offline.
  func withConnection<R: Sendable>(
    _ body: (PostgresConnection, Int64) throws(PostgresError) -> R
  ) throws(PostgresError) -> R {
    try state.withLock { (state: inout State) throws(PostgresError) -> R in
      guard let connection = state.connection, !state.inTransaction else {
        throw PostgresError(state.lastError ?? "PostgreSQL cannot be reached")
      }
      do throws(PostgresError) {
        return try body(connection, state.account)
      } catch {
        if !connection.isUp { goOffline(&state, error) }
        throw error
      }
    }
  }

  /// Writes the account's tier (`usage/setTier`), when PostgreSQL is reachable; other devices take it at their next
  /// start. Returns whether it was written.
  @discardableResult
  public func keepTier(_ tier: String) -> Bool {
    do throws(PostgresError) {
      _ = try withConnection { (connection: PostgresConnection, account: Int64) throws(PostgresError) in
        try connection.run("UPDATE usagectx.accounts SET tier = \(connection.literal(tier)) WHERE id = \(account)")
      }
      state.withLock { $0.tier = tier }
      return true
    } catch {
      return false
    }
  }

  // MARK: - Other devices

  /// Whether notifications arrived while a statement of this device ran; ``absorbOthers(readAnyway:)`` takes them.
  public var hasNotificationsWaiting: Bool {
    state.withLock { $0.connection?.hasQueuedNotifications ?? false }
  }

  /// Takes the notifications that arrived and, when another device committed, reads the account's counters
  /// again. Returns the metrics whose totals moved since the last call (also those found by a transaction), and the
  /// devices that notified. A lost connection takes the ledger offline.
  public func absorbOthers(readAnyway: Bool = false) -> (metrics: Set<String>, sources: Set<String>) {
    state.withLock { state in
      guard !state.inTransaction else { return ([], []) }
      var sources = Set<String>()
      guard let connection = state.connection else { return ([], []) }
      do throws(PostgresError) {
        for notice in try connection.notifications() {
          let parts = notice.payload.split(separator: " ", maxSplits: 1)
          if parts.count == 2, parts[1] == session[...] { continue }
          sources.insert(parts.first.map(String.init) ?? notice.payload)
        }
        if !sources.isEmpty || readAnyway {
          try fetch(&state, metrics: nil)
        }
      } catch {
        goOffline(&state, error)
      }
      let moved = state.movedByOthers
      state.movedByOthers = []
      if !moved.isEmpty { keepRemote(&state, metrics: moved) }
      return (moved, sources)
    }
  }

  /// Delivers the outbox now (a transaction of its own), when online and anything waits.
  public func deliverWaiting() throws(CommitError) {
    guard state.withLock({ $0.connection != nil && !$0.undelivered.isEmpty && !$0.inTransaction }) else { return }
    try begin(touching: [], keys: [])
    try commit()
  }
}
