import Synchronization
public import UsageCore

/// The local ledger on disk, and the transaction every change of the session goes through.
///
/// Running totals per metric (per UTC day over the last month, and over all time) are kept in memory: loaded from
/// the database's counters when the ledger opens (a bounded number of rows, whatever the history holds), moved at
/// once by every recorded change, and read again whenever another process committed (`PRAGMA data_version`): at the
/// start of each transaction (``begin(touching:)``), on every ``committed(metric:since:at:)`` outside one, and
/// when the watcher looks (``absorbOthers()``). Inside a transaction the write lock is held, so the totals a change
/// is decided against are the committed state of the ledger. ``commit()`` writes the change log, the counters,
/// answers kept under idempotency keys, outbox entries, baselines and readings in one transaction; a failed commit
/// takes its changes back out of the totals, so what the ledger says is what is durable plus what waits.
public final class DurableLedger: UsageLedger {
  private struct State: ~Copyable {
    let store: LedgerStore
    /// Totals per metric per UTC day (from about a month ago) and over all time: committed plus waiting.
    var totals: [String: RunningTotals] = [:]
    /// What the next commit writes.
    var batch = LedgerBatch()
    /// Outbox entries written by the last commits, with their ids, not yet taken.
    var posted: [OutboxEntry] = []
    /// Outbox entries whose commit failed (never durable, never to be sent), not yet taken.
    var failed: [OutboxEntry] = []
    var dataVersion: Int64 = 0
    /// Metrics whose totals another process moved, found by any look since ``absorbOthers()`` last took them.
    var movedByOthers: Set<String> = []
    /// The last value kept per metric by ``keepReading(metric:value:at:)`` (the same value is not written again).
    var readings: [String: Int64] = [:]
  }

  private let state: Mutex<State>
  private let clock: any WallClock
  /// The database file.
  public let path: String
  /// How many counter rows opening the ledger read.
  public let rowsReadAtOpen: Int
  /// How many days of totals per day are kept in memory: enough for any daily or monthly period.
  static let daysKept: Int64 = 32

  /// Opens the ledger of `store`, loading its running totals.
  public init(store: sending LedgerStore, clock: any WallClock = SystemWallClock()) throws(LedgerError) {
    path = store.path
    self.clock = clock
    var initial = State(store: store)
    try Self.reload(&initial, today: clock.now().milliseconds.floorDivided(by: 86_400_000))
    rowsReadAtOpen = initial.store.rowsRead
    state = Mutex(initial)
  }

  /// Reads the running totals again from the counters, then adds what waits for the next commit.
  private static func reload(_ state: inout State, today: Int64) throws(LedgerError) {
    state.dataVersion = try state.store.dataVersion()
    let rows = try state.store.counterTotals(fromDay: today - daysKept)
    state.totals = [:]
    for row in rows {
      state.totals[row.metric, default: RunningTotals()].set(
        row.total, day: row.day == LedgerStore.allTime ? nil : row.day)
    }
    for change in state.batch.changes { add(change, to: &state, sign: 1) }
  }

  /// Reads the totals again when another process committed since the last look. Returns whether it did.
  @discardableResult
  private func refreshIfOthersCommitted(_ state: inout State) throws(LedgerError) -> Bool {
    guard try state.store.dataVersion() != state.dataVersion else { return false }
    let before = state.totals
    try Self.reload(&state, today: clock.now().milliseconds.floorDivided(by: 86_400_000))
    let metrics = Set(before.keys).union(state.totals.keys)
    state.movedByOthers.formUnion(metrics.filter { before[$0] != state.totals[$0] })
    return true
  }

  // MARK: - UsageLedger

  public func record(_ change: RecordedChange) {
    guard change.delta != 0 || change.detail.map({ $0.cost != 0 || $0.fields.contains { $0 != 0 } }) == true else {
      return
    }
    state.withLock { state in
      state.batch.changes.append(change)
      Self.add(change, to: &state, sign: 1)
    }
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    state.withLock { $0.totals[metric]?.total(fromDay: start.map(RunningTotals.day)) ?? 0 }
  }

  public func committed(metric: String, since start: Timestamp?, at time: Timestamp) -> CommittedTotal {
    state.withLock { state in
      if !state.store.inTransaction {
        do throws(LedgerError) {
          try refreshIfOthersCommitted(&state)
        } catch {
          // The totals in memory stay as they are; the commit that follows meets the same error and says so.
        }
      }
      return (state.totals[metric] ?? RunningTotals()).committed(
        fromDay: start.map(RunningTotals.day), today: RunningTotals.day(time))
    }
  }

  public func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal] {
    displayTotals { (store: LedgerStore) throws(LedgerError) in
      try store.breakdown(metric: metric, fromDay: start.map(RunningTotals.day))
    }
  }

  public func baselines(metric: String, since start: Timestamp?) -> [BreakdownTotal] {
    displayTotals { (store: LedgerStore) throws(LedgerError) in
      try store.baselines(metric: metric, fromDay: start.map(RunningTotals.day))
    }
  }

  /// Reads totals that are shown, never counted (fields, cost, breakdown entries, their baselines): a failed read
  /// shows none rather than stopping the session; the totals limits use come from the counters.
  private func displayTotals(_ read: (LedgerStore) throws(LedgerError) -> [BreakdownTotal]) -> [BreakdownTotal] {
    state.withLock { state in
      do throws(LedgerError) {
        return try read(state.store)
      } catch {
        return []
      }
    }
  }

  public func begin(touching metrics: Set<String>) throws(CommitError) {
    try state.withLock { (state: inout State) throws(CommitError) in
      do throws(LedgerError) {
        try state.store.begin()
        try refreshIfOthersCommitted(&state)
      } catch {
        state.store.rollBack()
        throw CommitError(error.description)
      }
    }
  }

  public func commit() throws(CommitError) {
    try state.withLock { (state: inout State) throws(CommitError) in
      let outboxIDs: [Int64]
      do throws(LedgerError) {
        outboxIDs = try state.store.write(state.batch)
      } catch {
        for change in state.batch.changes { Self.add(change, to: &state, sign: -1) }
        state.failed += state.batch.outbox
        // Acknowledgements and readings are facts: they are written with the next commit.
        let delivered = state.batch.delivered
        let readings = state.batch.readings
        state.batch.removeAll()
        state.batch.delivered = delivered
        state.batch.readings = readings
        throw CommitError(error.description)
      }
      for (entry, id) in zip(state.batch.outbox, outboxIDs) {
        var posted = entry
        posted.id = id
        state.posted.append(posted)
      }
      // Emptied with its capacity kept: the next burst's changes take the same memory. What another process commits
      // from now on is read by the next transaction, the next look outside one, or the watcher.
      state.batch.removeAll()
    }
  }

  /// Abandons the open transaction and everything recorded since the last commit (their totals are taken back), for
  /// a ledger that wraps this one and whose own commit was refused.
  public func rollBack() {
    state.withLock { state in
      for change in state.batch.changes { Self.add(change, to: &state, sign: -1) }
      let delivered = state.batch.delivered
      let readings = state.batch.readings
      state.batch.removeAll()
      state.batch.delivered = delivered
      state.batch.readings = readings
      state.store.rollBack()
    }
  }

  public func keptAnswer(_ key: String) throws(CommitError) -> KeptAnswer? {
    let now = clock.now().milliseconds
    return try state.withLock { (state: inout State) throws(CommitError) -> KeptAnswer? in
      if let waiting = state.batch.answers.last(where: { $0.key == key }) { return waiting }
      do throws(LedgerError) {
        return try state.store.keptAnswer(key, since: now - KeptAnswer.retention)
      } catch {
        throw CommitError(error.description)
      }
    }
  }

  public func keep(_ answer: KeptAnswer) {
    state.withLock { $0.batch.answers.append(answer) }
  }

  public func setBaseline(metric: String, label: String, since start: Timestamp?) {
    let day = start.map { $0.milliseconds.floorDivided(by: 86_400_000) } ?? LedgerStore.allTime
    state.withLock { $0.batch.baselines.append((metric, label, day)) }
  }

  public func keepReading(metric: String, value: Int64, at time: Timestamp) {
    state.withLock { state in
      guard state.readings[metric] != value else { return }
      state.readings[metric] = value
      let reading = KeptReading(metric: metric, value: value, at: time.milliseconds)
      // Readings kept one after another for one metric (each acknowledgement of a burst) replace each other.
      if let last = state.batch.readings.indices.last, state.batch.readings[last].metric == metric {
        state.batch.readings[last] = reading
      } else {
        state.batch.readings.append(reading)
      }
    }
  }

  public func lastReadings() -> [String: (value: Int64, at: Timestamp)] {
    state.withLock { state in
      do throws(LedgerError) {
        let readings = try state.store.readings()
        for reading in readings { state.readings[reading.metric] = reading.value }
        return readings.reduce(into: [:]) { $0[$1.metric] = ($1.value, Timestamp(milliseconds: $1.at)) }
      } catch {
        // Without them a restart starts from the first reading, as before readings were kept.
        return [:]
      }
    }
  }

  // MARK: - The session's other writes

  /// Ends a clean session: marks the file as checked (see ``LedgerStore/markChecked()``).
  public func closeCleanly() {
    state.withLock { state in
      guard state.batch.isEmpty, !state.store.inTransaction else { return }
      state.store.markChecked()
    }
  }

  /// Whether anything waits for a commit.
  public var hasPending: Bool {
    state.withLock { !$0.batch.isEmpty }
  }

  /// Puts a change for a remote authority in the outbox; written with the next commit (see ``takePosted()``).
  public func post(_ entry: OutboxEntry) {
    state.withLock { $0.batch.outbox.append(entry) }
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
    state.withLock { $0.batch.delivered.append(id) }
  }

  /// Every entry waiting in the outbox (at start-up: the changes to replay).
  public func waitingInOutbox() throws(LedgerError) -> [OutboxEntry] {
    try state.withLock { (state: inout State) throws(LedgerError) -> [OutboxEntry] in try state.store.outbox() }
  }

  /// How long individual changes stay in the change log: 90 days; older ones are rolled up into one row per UTC day,
  /// metric, label and kind (``rollUpOldestDay()``), which history reads as exactly.
  public static let retention: Int64 = 90 * 86_400_000

  /// Rolls up the oldest day of the change log past ``retention`` that still holds individual changes. Returns
  /// whether there was one (more may follow).
  @discardableResult
  public func rollUpOldestDay() throws(LedgerError) -> Bool {
    let cutoff = clock.now().milliseconds - Self.retention
    return try state.withLock { (state: inout State) throws(LedgerError) -> Bool in
      guard !state.store.inTransaction else { return false }
      return try state.store.rollUpOldestDay(before: cutoff) != nil
    }
  }

  /// Forgets answers kept before `cutoff` (milliseconds since the epoch).
  public func forgetAnswers(before cutoff: Int64) throws(LedgerError) {
    try state.withLock { (state: inout State) throws(LedgerError) in _ = try state.store.forgetAnswers(before: cutoff) }
  }

  /// The committed changes summed by day, week, month, model or label (see
  /// ``LedgerStore/history(metric:since:until:groupBy:labels:)``).
  public func history(
    metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping, labels: [String: String] = [:]
  ) throws(LedgerError) -> [HistoryRow] {
    try state.withLock { (state: inout State) throws(LedgerError) -> [HistoryRow] in
      try state.store.history(metric: metric, since: since, until: until, groupBy: grouping, labels: labels)
    }
  }

  /// Takes in the changes other processes committed since the last look. Returns the metrics whose totals they
  /// moved since the last call (also those found by a transaction or a commit in between).
  public func absorbOthers() throws(LedgerError) -> Set<String> {
    try state.withLock { (state: inout State) throws(LedgerError) -> Set<String> in
      try refreshIfOthersCommitted(&state)
      defer { state.movedByOthers = [] }
      return state.movedByOthers
    }
  }

  private static func add(_ change: LedgerChange, to state: inout State, sign: Int64) {
    let delta = sign == 1 ? change.delta : 0 &- change.delta
    state.totals[change.metric, default: RunningTotals()].add(delta, on: change.day)
  }
}
