import Ledger
import Logging
import Postgres
import RefreshScheduler
import Synchronization
import UsageCore

/// The durable outbox of changes to metrics whose authority is another process (an exec plugin): the queue of what
/// that authority has not taken yet.
///
/// A change is written to the outbox in the same commit as the burst's other changes (and to the local change log,
/// so the metric keeps its history, breakdown and cost here), and sent to its authority only once that commit
/// succeeded, with an idempotency key (the client's, or one made for it), its sequence number and its facts (labels,
/// fields, cost). It leaves the outbox when the authority accepts it or refuses it for good. A transient failure (an
/// error the authority says is worth retrying, or a report lost with the program) keeps it: the metric's changes are
/// sent again after the refresh scheduler's backoff (exponential, full jitter, at least the authority's
/// `retryAfterMs`), one delay per metric however many changes wait, and the backoff starts again once a change is
/// accepted. At start-up the entries left by an earlier session are counted again as changes in flight and sent
/// again, so a change made while the authority was away reaches it once it is back: exactly once in effect, since the
/// authority sees the same key.
///
/// The outbox holds at most ``limit`` changes: beyond that a new change to a remote metric is refused (``isFull(_:)``,
/// `-32052 Outbox full`) rather than an old one dropped. Every step costs O(1) per change (no scans of the queue).
///
/// - Important: Used on the session's loop thread only (its authorities' `report` runs there, under the context's
///   lock, and only hands the change to the ledger).
final class Outbox {
  /// One change sent and waiting for its outcome: the entry, and the change as the authority is told it.
  private struct Sent {
    var entry: OutboxEntry
    var change: ReportedChange
  }

  /// A metric whose changes wait to be sent again.
  private struct Retry {
    /// When they are sent again; `nil` while none waits.
    var due: ContinuousClock.Instant?
    /// Transient failures since a change of the metric was last accepted.
    var attempt = 0
    var waiting: [Sent] = []
  }

  /// The default ``limit``.
  static let defaultLimit = 1_000_000

  private let ledger: DurableLedger
  private let logger: Logger
  /// How many changes the outbox may hold before new ones are refused.
  let limit: Int
  /// How many changes it holds now (written, or waiting for the burst's commit).
  let count = OutboxCount()
  /// The remote authority of each metric sent through the outbox.
  private var remote: [String: any Authority] = [:]
  /// Entries sent and waiting for their outcome, by metric and sequence number.
  private var sent: [String: [UInt64: Sent]] = [:]
  /// Entries to send again, per metric.
  private var retries: [String: Retry] = [:]
  /// Entries of an earlier session, counted and waiting for ``sendReplayed()``.
  private var replayed: [Sent] = []
  private let clock = ContinuousClock()
  /// A tag making the keys this session gives to keyless changes unique.
  private let session: String
  /// The delays between sends of a change not taken: the refresh scheduler's backoff (full jitter).
  private let backoff: Backoff
  private var random = SystemRandomNumberGenerator()

  init(ledger: DurableLedger, logger: Logger, session: String, backoff: Backoff = Backoff(), limit: Int = defaultLimit)
  {
    self.ledger = ledger
    self.logger = logger
    self.session = session
    self.backoff = backoff
    self.limit = max(1, limit)
  }

  /// Wraps `source`, the remote authority of `metric`, so that its changes go through the outbox.
  func wrap(_ metric: String, _ source: any Authority) -> any Authority {
    remote[metric] = source
    return OutboxAuthority(source: source, ledger: ledger, metric: metric, session: session, count: count)
  }

  /// Whether a new change to `metric` must be refused: its authority is remote and the outbox holds ``limit``
  /// changes.
  func isFull(_ metric: String) -> Bool {
    remote[metric] != nil && count.current >= limit
  }

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
    // Changes made offline for a PostgreSQL authority wait in the same table: the shared ledger delivers those.
    let ours = entries.filter { !SharedLedger.holds($0) }
    count.add(ours.count)
    if !ours.isEmpty {
      logger.notice("sending again \(ours.count) changes an earlier session left in the outbox")
    }
    for var entry in ours {
      guard let index = context.index(ofMetric: entry.metric), remote[entry.metric] != nil else {
        logger.warning("outbox: \(entry.metric) has no remote authority now; its change \(entry.key) waits")
        continue
      }
      entry.seq = context.restoreUnsettled(metric: index, delta: entry.delta)
      let change = OutboxFacts.change(seq: entry.seq, delta: entry.delta, key: entry.key, facts: entry.facts)
      replayed.append(Sent(entry: entry, change: change))
    }
  }

  /// Sends the entries counted by ``replay(into:)``.
  func sendReplayed() {
    for waiting in replayed { send(waiting) }
    replayed = []
  }

  /// After a commit: what it wrote to the outbox (to send) and what it failed to write (changes that never happened);
  /// `nil` when neither.
  func takeCommitted() -> (posted: [OutboxEntry], failed: [OutboxEntry])? {
    let (posted, failed) = ledger.takePosted()
    return posted.isEmpty && failed.isEmpty ? nil : (posted, failed)
  }

  /// Sends what a commit wrote (see ``takeCommitted()``); changes whose commit failed are settled. The entries of a
  /// PostgreSQL authority's offline changes are the shared ledger's to deliver, and are not counted here.
  func send(committed: (posted: [OutboxEntry], failed: [OutboxEntry]), _ context: UsageContext) {
    for entry in committed.posted where !SharedLedger.holds(entry) {
      send(
        Sent(
          entry: entry,
          change: OutboxFacts.change(seq: entry.seq, delta: entry.delta, key: entry.key, facts: entry.facts)))
    }
    count.add(-committed.failed.filter { !SharedLedger.holds($0) }.count)
    for entry in committed.failed {
      if let index = context.index(ofMetric: entry.metric) { context.settle(metric: index, seq: entry.seq) }
    }
  }

  /// The outcome of a report arrived. Returns `true` when the change is settled (accepted, or refused for good); a
  /// change not taken for now (``ReportOutcome/retry(_:afterMilliseconds:)``, ``ReportOutcome/lost(_:)``) stays in
  /// the outbox and in flight, and is sent again later.
  func outcome(metric: String, seq: UInt64, _ outcome: ReportOutcome) -> Bool {
    guard let waiting = sent[metric]?.removeValue(forKey: seq) else { return true }
    switch outcome {
    case .accepted, .refused:
      ledger.delivered(waiting.entry.id)
      count.add(-1)
      if outcome == .accepted { retries[metric]?.attempt = 0 }
      return true
    case .retry(let reason, let after):
      keep(waiting, metric: metric, reason: reason, retryAfter: after)
      return false
    case .lost(let reason):
      keep(waiting, metric: metric, reason: reason, retryAfter: nil)
      return false
    }
  }

  /// Keeps a change not taken, to be sent again with the metric's next retry (scheduled now if none is).
  private func keep(_ waiting: Sent, metric: String, reason: String, retryAfter: Int64?) {
    var retry = retries[metric] ?? Retry()
    retry.waiting.append(waiting)
    let now = clock.now
    if let due = retry.due {
      if let retryAfter, now.advanced(by: .milliseconds(retryAfter)) > due {
        retry.due = now.advanced(by: .milliseconds(retryAfter))
      }
    } else {
      let delay = backoff.delay(attempt: retry.attempt, retryAfter: retryAfter, using: &random)
      retry.attempt += 1
      retry.due = now.advanced(by: .milliseconds(delay))
      logger.notice("changes to \(metric) not taken by their authority (\(reason)); sending them again in \(delay) ms")
    }
    retries[metric] = retry
  }

  /// When the next changes not taken are due to be sent again.
  var nextRetry: ContinuousClock.Instant? { retries.values.compactMap(\.due).min() }

  /// Sends again the changes whose metric's retry is due, oldest first.
  func retryDue() {
    let now = clock.now
    for (metric, retry) in retries {
      guard let due = retry.due, due <= now else { continue }
      retries[metric]?.waiting = []
      retries[metric]?.due = nil
      for item in retry.waiting.sorted(by: { $0.entry.id < $1.entry.id }) { send(item) }
    }
  }

  private func send(_ waiting: Sent) {
    sent[waiting.entry.metric, default: [:]][waiting.entry.seq] = waiting
    _ = remote[waiting.entry.metric]?.report(waiting.change)
  }
}

/// How many changes the outbox holds, shared by the outbox (which takes them out) and the authorities that post to
/// it (under the context's lock, on the loop thread).
final class OutboxCount: Sendable {
  private let value = Atomic<Int>(0)

  func add(_ amount: Int) { value.add(amount, ordering: .relaxed) }

  var current: Int { value.load(ordering: .relaxed) }
}

/// A remote authority seen through the outbox: reads go to the source; a change goes to the local change log (the
/// metric's history, breakdown and cost stay here) and to the ledger's outbox, and is sent by ``Outbox`` once
/// committed.
struct OutboxAuthority: Authority {
  let source: any Authority
  let ledger: DurableLedger
  let metric: String
  let session: String
  let count: OutboxCount
  let clock: any WallClock = SystemWallClock()

  var name: String { source.name }
  var isRemote: Bool { true }

  func read() throws(AuthorityError) -> Int64 { try source.read() }

  func report(_ change: ReportedChange) -> ReportReceipt {
    let key = change.key ?? "\(session).\(metric).\(change.seq)"
    let now = clock.now()
    ledger.record(
      RecordedChange(
        metric: metric, delta: change.delta, at: now, key: change.key, label: change.label, detail: change.detail,
        kind: change.kind))
    ledger.post(
      OutboxEntry(
        metric: metric, delta: change.delta, key: key, at: now.milliseconds, seq: change.seq,
        facts: OutboxFacts.encode(change)))
    count.add(1)
    return .pending
  }
}
