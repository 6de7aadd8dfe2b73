import Synchronization
public import UsageCore

/// The local ledger on disk: every change is recorded in memory at once (totals include it) and written to the
/// ``LedgerStore`` by ``commit()``, all the changes since the last commit in one transaction (the group commit of a
/// burst). A failed commit takes its changes back out of the totals, so what the ledger says is what is durable plus
/// what is waiting for the next commit.
///
/// Totals are kept per metric per UTC day in memory, loaded from the database when the ledger opens, so a daily or
/// monthly period's total is right across restarts.
public final class DurableLedger: UsageLedger {
  private struct State: ~Copyable {
    let store: LedgerStore
    var days: [String: [Int64: Int64]]
    var pending: [LedgerChange] = []
    var answers: [KeptAnswer] = []
    var outbox: [OutboxEntry] = []
    var delivered: [Int64] = []
    /// Outbox entries written by the last commits, with their ids, not yet taken.
    var posted: [OutboxEntry] = []
    /// Outbox entries whose commit failed (never durable, never to be sent), not yet taken.
    var failed: [OutboxEntry] = []
    /// The highest change id already in `days`; every id up to it is counted.
    var seen: Int64
    var dataVersion: Int64
  }

  private let state: Mutex<State>
  /// The database file.
  public let path: String

  /// Opens the ledger of `store`, loading its totals.
  public init(store: sending LedgerStore) throws(LedgerError) {
    path = store.path
    let seen = try store.lastChangeID()
    let days = try store.dayTotals(ids: Int64.min...seen).reduce(into: [String: [Int64: Int64]]()) { days, row in
      days[row.metric, default: [:]][row.day] = row.total
    }
    let version = try store.dataVersion()
    state = Mutex(State(store: store, days: days, seen: seen, dataVersion: version))
  }

  public func record(
    metric: String, delta: Int64, at time: Timestamp, key: String?, label: String?, detail: ChangeDetail?
  ) {
    guard delta != 0 || detail.map({ $0.cost != 0 || $0.fields.contains { $0 != 0 } }) == true else { return }
    let change = LedgerChange(
      metric: metric, delta: delta, at: time.milliseconds, key: key, label: label, detail: detail)
    state.withLock { state in
      state.pending.append(change)
      Self.add(change, to: &state.days, sign: 1)
    }
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    let first = start.map { $0.milliseconds.floorDivided(by: 86_400_000) } ?? .min
    return state.withLock { state in
      (state.days[metric] ?? [:]).reduce(into: Int64(0)) { sum, entry in
        if entry.key >= first { sum = sum.saturatingAdd(entry.value) }
      }
    }
  }

  public func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal] {
    state.withLock { state in (try? state.store.breakdown(metric: metric, since: start?.milliseconds)) ?? [] }
  }

  /// Whether changes wait for a commit.
  public var hasPending: Bool {
    state.withLock { !$0.pending.isEmpty || !$0.answers.isEmpty || !$0.outbox.isEmpty || !$0.delivered.isEmpty }
  }

  /// Puts a change for a remote authority in the outbox; written with the next commit (see ``takePosted()``).
  public func post(_ entry: OutboxEntry) {
    state.withLock { $0.outbox.append(entry) }
  }

  /// The outbox entries written since the last call, with their ids (they may be sent now), and those whose commit
  /// failed (their changes never happened).
  public func takePosted() -> (posted: [OutboxEntry], failed: [OutboxEntry]) {
    state.withLock { state in
      defer {
        state.posted = []
        state.failed = []
      }
      return (state.posted, state.failed)
    }
  }

  /// The authority acknowledged outbox entry `id`: it leaves the outbox with the next commit.
  public func delivered(_ id: Int64) {
    state.withLock { $0.delivered.append(id) }
  }

  /// Every entry waiting in the outbox (at start-up: the changes to replay).
  public func waitingInOutbox() throws(LedgerError) -> [OutboxEntry] {
    try state.withLock { (state: inout State) throws(LedgerError) -> [OutboxEntry] in try state.store.outbox() }
  }

  /// Keeps the answer given under an idempotency key; written with the next commit, together with its change.
  public func keep(_ answer: KeptAnswer) {
    state.withLock { $0.answers.append(answer) }
  }

  /// The answer kept under `key` (committed, or waiting for the commit), if any.
  public func keptAnswer(_ key: String) -> KeptAnswer? {
    state.withLock { state in
      if let waiting = state.answers.last(where: { $0.key == key }) { return waiting }
      return try? state.store.keptAnswer(key)
    }
  }

  /// Forgets answers kept before `cutoff` (milliseconds since the epoch).
  public func forgetAnswers(before cutoff: Int64) {
    state.withLock { state in _ = try? state.store.forgetAnswers(before: cutoff) }
  }

  /// Writes the changes recorded since the last commit in one transaction. Returns how many were written; on
  /// failure they are taken back out of the totals (they were never durable) and the error says why.
  @discardableResult
  public func commit() throws(LedgerError) -> Int {
    try state.withLock { (state: inout State) throws(LedgerError) -> Int in
      let write = LedgerBatch(
        changes: state.pending, answers: state.answers, outbox: state.outbox, delivered: state.delivered)
      guard !write.isEmpty else { return 0 }
      let batch = state.pending
      state.pending = []
      state.answers = []
      state.outbox = []
      state.delivered = []
      let ids: ClosedRange<Int64>?
      do throws(LedgerError) {
        let written = try state.store.write(write)
        ids = written.changeIDs
        for (entry, id) in zip(write.outbox, written.outboxIDs) {
          var posted = entry
          posted.id = id
          state.posted.append(posted)
        }
      } catch {
        for change in batch { Self.add(change, to: &state.days, sign: -1) }
        // Acknowledgements are facts: they are written with the next commit.
        state.delivered = write.delivered
        state.failed += write.outbox
        throw error
      }
      if let ids {
        // Another process may have written between our last look and this commit: its changes come first.
        if ids.lowerBound > state.seen + 1 {
          Self.absorb(try? state.store.dayTotals(ids: (state.seen + 1)...(ids.lowerBound - 1)), into: &state.days)
        }
        state.seen = ids.upperBound
      }
      return batch.count
    }
  }

  /// The committed changes summed by day, month or model (see ``LedgerStore/history(metric:since:until:groupBy:)``).
  public func history(
    metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping
  ) throws(LedgerError) -> [HistoryRow] {
    try state.withLock { (state: inout State) throws(LedgerError) -> [HistoryRow] in
      try state.store.history(metric: metric, since: since, until: until, groupBy: grouping)
    }
  }

  /// Takes in the changes other processes committed since the last look. Returns the metrics they changed.
  public func absorbOthers() -> Set<String> {
    state.withLock { state in
      guard let version = try? state.store.dataVersion(), version != state.dataVersion else { return [] }
      state.dataVersion = version
      guard let last = try? state.store.lastChangeID(), last > state.seen else { return [] }
      let rows = try? state.store.dayTotals(ids: (state.seen + 1)...last)
      state.seen = last
      Self.absorb(rows, into: &state.days)
      return Set(rows?.map(\.metric) ?? [])
    }
  }

  private static func absorb(_ rows: [(metric: String, day: Int64, total: Int64)]?, into days: inout [String: [Int64: Int64]]) {
    for row in rows ?? [] {
      days[row.metric, default: [:]][row.day] = days[row.metric, default: [:]][row.day, default: 0].saturatingAdd(row.total)
    }
  }

  private static func add(_ change: LedgerChange, to days: inout [String: [Int64: Int64]], sign: Int64) {
    let day = change.at.floorDivided(by: 86_400_000)
    days[change.metric, default: [:]][day, default: 0] = days[change.metric, default: [:]][day, default: 0]
      .saturatingAdd(sign * change.delta)
  }
}
