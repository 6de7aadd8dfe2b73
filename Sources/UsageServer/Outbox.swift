import Ledger
import Logging
import Postgres
import RefreshScheduler
import UsageCore

/// The durable outbox of changes to metrics whose authority is another process (an exec plugin).
///
/// A change is written to the outbox in the same commit as the burst's other changes, and sent to its authority only
/// once that commit succeeded, with an idempotency key (the client's, or one made for it) and its sequence number.
/// It leaves the outbox when the authority accepts or refuses it; a report lost on the way (the program went down
/// with it) is sent again after the refresh scheduler's backoff (exponential, full jitter). At start-up the entries left by an earlier session are counted again as
/// changes in flight and sent again, so a change made while the authority was away reaches it once it is back:
/// exactly once in effect, since the authority sees the same key.
///
/// - Important: Used on the session's loop thread only (its authorities' `report` runs there, under the context's
///   lock, and only hands the change to the ledger).
final class Outbox {
  private struct Sent {
    var entry: OutboxEntry
    var attempt = 0
  }

  private let ledger: DurableLedger
  private let logger: Logger
  /// The remote authority of each metric sent through the outbox.
  private var remote: [String: any Authority] = [:]
  /// Entries sent and waiting for their outcome, by metric and sequence number.
  private var sent: [String: [UInt64: Sent]] = [:]
  /// Entries to send again, when.
  private var retries: [(due: ContinuousClock.Instant, metric: String, seq: UInt64)] = []
  private let clock = ContinuousClock()
  /// A tag making the keys this session gives to keyless changes unique.
  private let session: String
  /// The delays between sends of a lost change: the refresh scheduler's backoff (full jitter).
  private let backoff: Backoff
  private var random = SystemRandomNumberGenerator()

  init(ledger: DurableLedger, logger: Logger, session: String, backoff: Backoff = Backoff()) {
    self.ledger = ledger
    self.logger = logger
    self.session = session
    self.backoff = backoff
  }

  /// Wraps `source`, the remote authority of `metric`, so that its changes go through the outbox.
  func wrap(_ metric: String, _ source: any Authority) -> any Authority {
    remote[metric] = source
    return OutboxAuthority(source: source, ledger: ledger, metric: metric, session: session)
  }

  /// Entries of an earlier session, counted and waiting for ``sendReplayed()``.
  private var replayed: [OutboxEntry] = []

  /// Counts again the entries an earlier session left (as changes in flight); ``sendReplayed()`` sends them once the
  /// session's first reading is done, so that reading cannot already include a change it counts as in flight.
  func replay(into context: UsageContext) {
    let entries: [OutboxEntry]
    do throws(LedgerError) {
      entries = try ledger.waitingInOutbox()
    } catch {
      logger.error("cannot read the outbox: \(error)")
      return
    }
    if !entries.isEmpty { logger.notice("sending again \(entries.count) changes an earlier session left in the outbox") }
    for var entry in entries where !SharedLedger.holds(entry) {
      guard let index = context.index(ofMetric: entry.metric), remote[entry.metric] != nil else {
        logger.warning("outbox: \(entry.metric) has no remote authority now; its change \(entry.key) waits")
        continue
      }
      entry.seq = context.restoreUnsettled(metric: index, delta: entry.delta)
      replayed.append(entry)
    }
  }

  /// Sends the entries counted by ``replay(into:)``.
  func sendReplayed() {
    for entry in replayed { send(entry) }
    replayed = []
  }

  /// After a commit: sends what it wrote; changes whose commit failed are settled (they never happened).
  func afterCommit(_ context: UsageContext) {
    let (posted, failed) = ledger.takePosted()
    for entry in posted where !SharedLedger.holds(entry) { send(entry) }
    for entry in failed {
      if let index = context.index(ofMetric: entry.metric) { context.settle(metric: index, seq: entry.seq) }
    }
  }

  /// The outcome of a report arrived. Returns `true` when the change is settled (accepted or refused; a lost one is
  /// sent again later and stays in flight).
  func outcome(metric: String, seq: UInt64, _ outcome: ReportOutcome) -> Bool {
    guard let waiting = sent[metric]?[seq] else { return true }
    switch outcome {
    case .accepted, .refused:
      sent[metric]?[seq] = nil
      ledger.delivered(waiting.entry.id)
      return true
    case .lost(let reason):
      let delay = Duration.milliseconds(backoff.delay(attempt: waiting.attempt, using: &random))
      logger.notice("change \(waiting.entry.key) to \(metric) was lost (\(reason)); sending again in \(delay)")
      sent[metric]?[seq]?.attempt += 1
      retries.append((clock.now + delay, metric, seq))
      return false
    }
  }

  /// When the next lost change is due to be sent again.
  var nextRetry: ContinuousClock.Instant? { retries.map(\.due).min() }

  /// Sends again the lost changes that are due.
  func retryDue() {
    let now = clock.now
    let due = retries.filter { $0.due <= now }
    retries.removeAll { $0.due <= now }
    for retry in due {
      guard let waiting = sent[retry.metric]?[retry.seq] else { continue }
      push(waiting.entry)
    }
  }

  private func send(_ entry: OutboxEntry) {
    sent[entry.metric, default: [:]][entry.seq] = Sent(entry: entry)
    push(entry)
  }

  private func push(_ entry: OutboxEntry) {
    _ = remote[entry.metric]?.report(ReportedChange(seq: entry.seq, delta: entry.delta, key: entry.key))
  }
}

/// A remote authority seen through the outbox: reads go to the source; a change goes to the ledger's outbox and is
/// sent by ``Outbox`` once committed.
struct OutboxAuthority: Authority {
  let source: any Authority
  let ledger: DurableLedger
  let metric: String
  let session: String
  let clock: any WallClock = SystemWallClock()

  var name: String { source.name }
  var isRemote: Bool { true }

  func read() throws(AuthorityError) -> Int64 { try source.read() }

  func report(_ change: ReportedChange) -> ReportReceipt {
    let key = change.key ?? "\(session).\(metric).\(change.seq)"
    ledger.post(
      OutboxEntry(
        metric: metric, delta: change.delta, key: key, at: clock.now().milliseconds, seq: change.seq))
    return .pending
  }
}
