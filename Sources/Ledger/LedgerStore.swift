import CSQLite
import Glibc
public import UsageCore

/// The durable ledger's database: `usage.sqlite3` in the state directory, in WAL mode with `synchronous=FULL`, its
/// schema versioned by `PRAGMA user_version` and marked as usagectx's by `PRAGMA application_id`.
///
/// Opening never recreates a file it does not recognise: a file that is not SQLite, is corrupt, belongs to another
/// program, or has a newer schema is an error naming the path. Changes are appended in groups, one transaction per
/// group (the group commit of a burst).
///
/// - Important: Not thread-safe; one owner.
public final class LedgerStore {
  /// The database's file name in the state directory.
  public static let fileName = "usage.sqlite3"
  /// `PRAGMA application_id` of a usagectx ledger ("USCX").
  public static let applicationID: Int64 = 0x5553_4358
  /// The `day` of the counters that hold each metric's totals over all time.
  public static let allTime = Int64.min

  /// How many field values a change keeps (`f0`…`f3`); further fields are not kept.
  public static let keptFields = 4

  /// The schema version this usagectx writes.
  public static var latestSchemaVersion: Int64 { Int64(migrations.count) }

  /// The database file.
  public let path: String
  let connection: SQLiteConnection
  private let insert: SQLiteStatement
  private let count: SQLiteStatement
  private let bump: SQLiteStatement
  private let keep: SQLiteStatement
  private let find: SQLiteStatement
  private let post: SQLiteStatement
  private let deliver: SQLiteStatement
  private let note: SQLiteStatement
  private let version: SQLiteStatement
  /// `BEGIN IMMEDIATE` and `COMMIT`, prepared once: a burst's transaction runs them every time.
  private let beginWrite: SQLiteStatement
  private let commitWrite: SQLiteStatement
  /// Whether opening read the whole file with `PRAGMA quick_check` (it does unless the file is as a check or a
  /// clean close last left it).
  public let checkedAtOpen: Bool
  /// How many counter rows the last ``counterTotals(metrics:fromDay:)`` read (start-up reads are bounded by it).
  public internal(set) var rowsRead = 0

  /// The default state directory from this process's environment (see `defaultDirectory(environment:)`).
  public static func defaultDirectory() -> String? {
    let environment = ["XDG_STATE_HOME", "HOME"].reduce(into: [String: String]()) { values, name in
      values[name] = getenv(name).map { String(cString: $0) }
    }
    return defaultDirectory(environment: environment)
  }

  /// The state directory: `$XDG_STATE_HOME/usagectx`, else `$HOME/.local/state/usagectx`.
  public static func defaultDirectory(environment: [String: String]) -> String? {
    if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/usagectx" }
    guard let home = environment["HOME"], !home.isEmpty else { return nil }
    return home + "/.local/state/usagectx"
  }

  /// Opens (creating when missing) the ledger in `directory`, which is created too (mode 0700).
  /// - Parameters:
  ///   - busyTimeout: how long a write waits for another process's lock, in milliseconds.
  ///   - readOnly: only read an existing ledger of the current schema (`usagectx status`): nothing is created,
  ///     checked, migrated or written; a missing file, another program's or an older or newer schema is an error.
  public init(directory: String, busyTimeout: Int32 = 5_000, readOnly: Bool = false) throws(LedgerError) {
    path = directory + "/" + Self.fileName
    if readOnly {
      connection = try SQLiteConnection(path: path, create: false, readOnly: true)
      connection.setBusyTimeout(busyTimeout)
      checkedAtOpen = false
      try Self.recogniseCurrent(connection)
    } else {
      try Self.makeDirectory(directory, for: path)
      try Self.createPrivateFile(path)
      connection = try SQLiteConnection(path: path, create: true)
      connection.setBusyTimeout(busyTimeout)
      // Before anything is written: a damaged ledger is refused untouched.
      checkedAtOpen = try Self.checkIntegrity(connection, within: busyTimeout)
      try Self.recogniseAndMigrate(connection, within: busyTimeout)
      try connection.execute("PRAGMA synchronous = FULL")
    }
    insert = try connection.prepare(
      """
      INSERT INTO changes (metric, delta, at_ms, day, key, label, f0, f1, f2, f3, cost, priced, events, kind, count,
        labels)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      """)
    count = try connection.prepare(
      """
      INSERT INTO counters (metric, day, label, amount, f0, f1, f2, f3, cost, priced, events)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (metric, day, label) DO UPDATE SET
        amount = amount + excluded.amount, f0 = f0 + excluded.f0, f1 = f1 + excluded.f1, f2 = f2 + excluded.f2,
        f3 = f3 + excluded.f3, cost = cost + excluded.cost, priced = min(priced, excluded.priced),
        events = events + excluded.events
      """)
    // Most commits move counters that exist: an UPDATE finds them through the key, and the upsert above runs only
    // for a new day or label (cheaper than an INSERT that fails on the key and turns into an update).
    bump = try connection.prepare(
      """
      UPDATE counters SET amount = amount + ?4, f0 = f0 + ?5, f1 = f1 + ?6, f2 = f2 + ?7, f3 = f3 + ?8,
        cost = cost + ?9, priced = min(priced, ?10), events = events + ?11
      WHERE metric = ?1 AND day = ?2 AND label = ?3
      """)
    keep = try connection.prepare(
      "INSERT OR REPLACE INTO idempotency (key, fingerprint, answer, at_ms) VALUES (?, ?, ?, ?)")
    find = try connection.prepare("SELECT fingerprint, answer, at_ms FROM idempotency WHERE key = ? AND at_ms >= ?")
    post = try connection.prepare("INSERT INTO outbox (metric, delta, key, at_ms, facts) VALUES (?, ?, ?, ?, ?)")
    deliver = try connection.prepare("DELETE FROM outbox WHERE id = ?")
    note = try connection.prepare("INSERT OR REPLACE INTO readings (metric, value, at_ms) VALUES (?, ?, ?)")
    version = try connection.prepare("PRAGMA data_version")
    beginWrite = try connection.prepare("BEGIN IMMEDIATE")
    commitWrite = try connection.prepare("COMMIT")
  }

  /// The schema version of the file.
  public var schemaVersion: Int64 { (try? connection.integer("PRAGMA user_version")) ?? 0 }  // harmless: a test probe
  /// `wal` once opened.
  public var journalMode: String { (try? connection.text("PRAGMA journal_mode")) ?? "" }  // harmless: a test probe
  /// 2 (`FULL`) once opened.
  public var synchronous: Int64 { (try? connection.integer("PRAGMA synchronous")) ?? -1 }  // harmless: a test probe

  /// Appends `changes`, and the answers given under idempotency keys, in one transaction: all of them are durable
  /// when this returns, or none is.
  public func append(_ changes: [LedgerChange], answers: [KeptAnswer] = []) throws(LedgerError) {
    _ = try write(LedgerBatch(changes: changes, answers: answers))
  }

  /// Opens a write transaction (`BEGIN IMMEDIATE`: the write lock is taken now, waiting up to the busy timeout).
  public func begin() throws(LedgerError) {
    try beginWrite.run([])
  }

  /// Whether a transaction is open.
  public var inTransaction: Bool { sqlite3_get_autocommit(connection.rawHandle) == 0 }

  /// Writes `batch` in one transaction (the one open, or a new one) and commits: all of it is durable when this
  /// returns, or none of it. Returns the ids of its new outbox entries, in order.
  ///
  /// Changes without a key made in one batch share one row of the change log per metric, day, label and kind (its
  /// `count` says how many they were); the running totals (`counters`) move by the batch's sum per metric, day and
  /// label, and per metric and label over all time.
  @discardableResult
  public func write(_ batch: LedgerBatch) throws(LedgerError) -> [Int64] {
    guard !batch.isEmpty else {
      if inTransaction { try commitWrite.run([]) }
      return []
    }
    if !inTransaction { try begin() }
    do throws(LedgerError) {
      try writeChanges(batch.changes)
      for answer in batch.answers {
        try keep.run([.text(answer.key), .text(answer.fingerprint), .blob(answer.answer), .integer(answer.at)])
      }
      var outboxIDs: [Int64] = []
      for entry in batch.outbox {
        try post.run([
          .text(entry.metric), .integer(entry.delta), .text(entry.key), .integer(entry.at),
          entry.facts.map(SQLiteValue.text) ?? .null,
        ])
        outboxIDs.append(lastInsertID)
      }
      for id in batch.delivered { try deliver.run([.integer(id)]) }
      for baseline in batch.baselines { try setBaseline(baseline) }
      for reading in batch.readings {
        try note.run([.text(reading.metric), .integer(reading.value), .integer(reading.at)])
      }
      try commitWrite.run([])
      return outboxIDs
    } catch {
      rollBack()
      throw error
    }
  }

  /// Abandons the open transaction, if any.
  public func rollBack() {
    guard inTransaction else { return }
    do throws(LedgerError) {
      try connection.execute("ROLLBACK")
    } catch {
      // SQLite rolls back by itself after the errors that prevent a ROLLBACK; nothing more can be done here.
    }
  }

  func writeChanges(_ changes: [LedgerChange]) throws(LedgerError) {
    // Changes are summed per group (metric, day, label): the running totals move once per group, and changes without
    // a key share one row of the log per group. A burst's changes mostly follow one another in the same group, so
    // the last group is compared before any hashing.
    var groups: [ChangeGroup: Int] = [:]
    var keys: [ChangeGroup] = []
    var sums: [CounterDelta] = []
    var sharedRow: [Int?] = []
    var last: (group: ChangeGroup, index: Int)?
    var rows: [LedgerChange] = []
    var counts: [Int64] = []
    var rowLabels: [String?] = []
    // Changes in a row mostly carry the same labels: each set is encoded once.
    var encoded: (labels: [String: String], text: String?)?
    for change in changes {
      let labels: String?
      if let encoded, encoded.labels == change.labels {
        labels = encoded.text
      } else {
        labels = ChangeLabels.encode(change.labels)
        encoded = (change.labels, labels)
      }
      let group = ChangeGroup(metric: change.metric, day: change.day, label: change.label, labels: labels)
      let index: Int
      if let last, last.group == group {
        index = last.index
      } else if let found = groups[group] {
        index = found
      } else {
        index = sums.count
        groups[group] = index
        keys.append(group)
        sums.append(CounterDelta())
        sharedRow.append(nil)
      }
      last = (group, index)
      sums[index].add(change)
      if change.key == nil && change.kind == .change, let row = sharedRow[index] {
        rows[row].delta &+= change.delta
        rows[row].at = change.at
        rows[row].detail = Self.sum(rows[row].detail, change.detail)
        counts[row] += 1
      } else {
        if change.key == nil && change.kind == .change { sharedRow[index] = rows.count }
        rows.append(change)
        counts.append(1)
        rowLabels.append(labels)
      }
    }
    for (row, change) in rows.enumerated() {
      let detail = change.detail
      insert.start()
      try insert.bind(1, change.metric)
      try insert.bind(2, change.delta)
      try insert.bind(3, change.at.milliseconds)
      try insert.bind(4, change.day)
      try insert.bind(5, change.key)
      try insert.bind(6, change.label)
      try Self.bindFields(detail?.fields, to: insert, from: 7)
      try insert.bind(11, detail?.cost ?? 0)
      try insert.bind(12, Int64(detail?.priced == false ? 0 : 1))
      try insert.bind(13, detail?.events ?? 0)
      try insert.bind(14, Int64(change.kind.rawValue))
      try insert.bind(15, counts[row])
      try insert.bind(16, rowLabels[row])
      try insert.runBound()
    }
    var allTime: [CounterKey: CounterDelta] = [:]
    var allTimeOrder: [CounterKey] = []
    for (group, sum) in zip(keys, sums) {
      try addToCounter(CounterKey(metric: group.metric, day: group.day, label: group.label ?? ""), sum)
      let key = CounterKey(metric: group.metric, day: Self.allTime, label: group.label ?? "")
      if allTime[key] == nil { allTimeOrder.append(key) }
      allTime[key, default: CounterDelta()].add(sum)
    }
    for key in allTimeOrder {
      if let sum = allTime[key] { try addToCounter(key, sum) }
    }
  }

  /// Moves one running total by `delta`: the row is updated, or created when there is none yet.
  private func addToCounter(_ key: CounterKey, _ delta: CounterDelta) throws(LedgerError) {
    func run(_ statement: SQLiteStatement) throws(LedgerError) {
      statement.start()
      try statement.bind(1, key.metric)
      try statement.bind(2, key.day)
      try statement.bind(3, key.label)
      try statement.bind(4, delta.amount)
      try Self.bindFields(delta.fields, to: statement, from: 5)
      try statement.bind(9, delta.cost)
      try statement.bind(10, Int64(delta.priced ? 1 : 0))
      try statement.bind(11, delta.events)
      try statement.runBound()
    }
    try run(bump)
    if bump.changes == 0 { try run(count) }
  }

  /// Binds the first ``keptFields`` field values (zeros where missing) to parameters `first`, `first + 1`, ….
  private static func bindFields(_ fields: [Int64]?, to statement: SQLiteStatement, from first: Int32)
    throws(LedgerError)
  {
    for position in 0..<keptFields {
      try statement.bind(first + Int32(position), fields.map { position < $0.count ? $0[position] : 0 } ?? 0)
    }
  }

  private static func sum(_ first: ChangeDetail?, _ second: ChangeDetail?) -> ChangeDetail? {
    guard let first else { return second }
    guard let second else { return first }
    let count = max(first.fields.count, second.fields.count)
    return ChangeDetail(
      fields: (0..<count).map {
        ($0 < first.fields.count ? first.fields[$0] : 0) &+ ($0 < second.fields.count ? second.fields[$0] : 0)
      }, cost: first.cost + second.cost, priced: first.priced && second.priced, events: first.events + second.events)
  }

  /// The answer kept under `key` since `since` (milliseconds since the epoch), if any.
  public func keptAnswer(_ key: String, since: Int64) throws(LedgerError) -> KeptAnswer? {
    try find.bind([.text(key), .integer(since)])
    guard try find.step() else { return nil }
    let answer = KeptAnswer(key: key, fingerprint: find.text(0) ?? "", answer: find.blob(1), at: find.int64(2))
    find.reset()
    return answer
  }

  /// Forgets the answers kept before `cutoff` (milliseconds since the epoch). Returns how many.
  @discardableResult
  public func forgetAnswers(before cutoff: Int64) throws(LedgerError) -> Int {
    try connection.execute("DELETE FROM idempotency WHERE at_ms < \(cutoff)")
    return Int(sqlite3_changes(connection.rawHandle))
  }

  /// Rolls the change log of the oldest UTC day before `cutoff` (milliseconds since the epoch) that still holds
  /// individual changes up into one row per metric, label and kind (its `count` the number of changes, its time the
  /// day's start, no key), in one transaction. History by day, month or label reads the same totals afterwards.
  /// Returns the day rolled up (days since the epoch), or `nil` when there was none.
  @discardableResult
  public func rollUpOldestDay(before cutoff: Int64) throws(LedgerError) -> Int64? {
    let lastDay = cutoff.floorDivided(by: Self.millisecondsPerDay) - 1
    // Per metric through the (metric, day) index: the rows read are the days already rolled up, then one.
    let oldest = try connection.prepare("SELECT MIN(day) FROM changes WHERE metric = ? AND rolled = 0 AND day <= ?")
    var found: Int64?
    for metric in try counterMetrics() {
      try oldest.bind([.text(metric), .integer(lastDay)])
      if try oldest.step(), !oldest.isNull(0) { found = min(found ?? .max, oldest.int64(0)) }
      oldest.reset()
    }
    guard let day = found else { return nil }
    try begin()
    do throws(LedgerError) {
      try connection.execute(
        """
        INSERT INTO changes (metric, delta, at_ms, day, key, label, f0, f1, f2, f3, cost, priced, events, kind, count,
          rolled, labels)
        SELECT metric, SUM(delta), \(day) * \(Self.millisecondsPerDay), day, NULL, label, SUM(f0), SUM(f1), SUM(f2),
          SUM(f3), SUM(cost), MIN(priced), SUM(events), kind, SUM(count), 1, labels
        FROM changes WHERE rolled = 0 AND day = \(day) GROUP BY metric, label, labels, kind;
        DELETE FROM changes WHERE rolled = 0 AND day = \(day);
        COMMIT;
        """)
    } catch {
      rollBack()
      throw error
    }
    return day
  }

  /// How many rows the change log holds.
  public func changeRows() throws(LedgerError) -> Int64 {
    try connection.integer("SELECT COUNT(*) FROM changes") ?? 0
  }

  /// The last reading kept for each metric.
  public func readings() throws(LedgerError) -> [KeptReading] {
    let statement = try connection.prepare("SELECT metric, value, at_ms FROM readings")
    var result: [KeptReading] = []
    while try statement.step() {
      result.append(KeptReading(metric: statement.text(0) ?? "", value: statement.int64(1), at: statement.int64(2)))
    }
    return result
  }

  /// Sets a breakdown entry's baseline to its running totals of the period from `sinceDay` (all time for
  /// ``allTime``): the entry shows from zero again.
  private func setBaseline(_ baseline: (metric: String, label: String, sinceDay: Int64)) throws(LedgerError) {
    let statement = try connection.prepare(
      """
      INSERT OR REPLACE INTO baselines (metric, label, since_day, amount, f0, f1, f2, f3, cost, events)
      SELECT ?1, ?2, ?3, COALESCE(SUM(amount), 0), COALESCE(SUM(f0), 0), COALESCE(SUM(f1), 0), COALESCE(SUM(f2), 0),
        COALESCE(SUM(f3), 0), COALESCE(SUM(cost), 0), COALESCE(SUM(events), 0)
      FROM counters WHERE metric = ?1 AND label = ?2 AND \(baseline.sinceDay == Self.allTime ? "day = ?3" : "day >= ?3")
      """)
    try statement.run([.text(baseline.metric), .text(baseline.label), .integer(baseline.sinceDay)])
  }

  /// The changes waiting in the outbox for their remote authority, oldest first.
  public func outbox() throws(LedgerError) -> [OutboxEntry] {
    let statement = try connection.prepare("SELECT id, metric, delta, key, at_ms, facts FROM outbox ORDER BY id")
    var entries: [OutboxEntry] = []
    while try statement.step() {
      entries.append(
        OutboxEntry(
          id: statement.int64(0), metric: statement.text(1) ?? "", delta: statement.int64(2),
          key: statement.text(3) ?? "", at: statement.int64(4), facts: statement.text(5)))
    }
    return entries
  }

  /// A number that changes when another connection commits (`PRAGMA data_version`).
  public func dataVersion() throws(LedgerError) -> Int64 {
    guard try version.step() else { return 0 }
    let value = version.int64(0)
    version.reset()
    return value
  }

  /// The id of the last row this connection inserted.
  var lastInsertID: Int64 { sqlite3_last_insert_rowid(connection.rawHandle) }

}
