import CSQLite
import Glibc
public import UsageCore

/// A local change to a metric whose authority is in another process, kept until that authority acknowledges it.
public struct OutboxEntry: Sendable, Equatable {
  /// The entry's id once written (0 before).
  public var id: Int64
  public var metric: String
  public var delta: Int64
  /// The idempotency key the authority sees (the client's, or one made for the change), so a replay is applied
  /// once.
  public var key: String
  /// When the change was made, in milliseconds since the epoch.
  public var at: Int64
  /// The change's sequence number in this session (not written: a replay numbers it again).
  public var seq: UInt64

  public init(id: Int64 = 0, metric: String, delta: Int64, key: String, at: Int64, seq: UInt64 = 0) {
    self.id = id
    self.metric = metric
    self.delta = delta
    self.key = key
    self.at = at
    self.seq = seq
  }
}

/// What one commit writes: changes, answers kept under idempotency keys, new outbox entries, and the ids of outbox
/// entries their authority acknowledged.
public struct LedgerBatch: Sendable {
  public var changes: [LedgerChange] = []
  public var answers: [KeptAnswer] = []
  public var outbox: [OutboxEntry] = []
  public var delivered: [Int64] = []
  /// Resets of single breakdown entries: (metric, label, first day of the period) — see ``LedgerStore/baselines``.
  public var baselines: [(metric: String, label: String, sinceDay: Int64)] = []
  /// The last accepted readings of metrics held by other sources.
  public var readings: [KeptReading] = []

  public init(
    changes: [LedgerChange] = [], answers: [KeptAnswer] = [], outbox: [OutboxEntry] = [], delivered: [Int64] = []
  ) {
    self.changes = changes
    self.answers = answers
    self.outbox = outbox
    self.delivered = delivered
  }

  public var isEmpty: Bool {
    changes.isEmpty && answers.isEmpty && outbox.isEmpty && delivered.isEmpty && baselines.isEmpty && readings.isEmpty
  }
}

/// The last reading of a metric's authority that the session accepted, kept so that a restart while that authority
/// is unreachable starts from it rather than from zero.
public struct KeptReading: Sendable, Equatable {
  public var metric: String
  public var value: Int64
  /// When the read started, in milliseconds since the epoch.
  public var at: Int64

  public init(metric: String, value: Int64, at: Int64) {
    self.metric = metric
    self.value = value
    self.at = at
  }
}

/// Where a change without a key shares its row of the change log within one batch.
struct ChangeGroup: Hashable {
  var metric: String
  var day: Int64
  var label: String?
}

/// One running total: a metric's, on a UTC day (or over all time), for one label (`""` for none).
struct CounterKey: Hashable {
  var metric: String
  var day: Int64
  var label: String
}

/// What one batch adds to a running total.
struct CounterDelta {
  var amount: Int64 = 0
  var fields: [Int64] = []
  var cost: Double = 0
  var priced = true
  var events: Int64 = 0

  mutating func add(_ change: LedgerChange) {
    amount &+= change.delta
    guard let detail = change.detail else { return }
    if fields.count < detail.fields.count { fields += Array(repeating: 0, count: detail.fields.count - fields.count) }
    for (position, value) in detail.fields.enumerated() { fields[position] &+= value }
    cost += detail.cost
    priced = priced && detail.priced
    events &+= detail.events
  }
}

/// One change as the ledger records it (the core's ``RecordedChange``), made with its time in milliseconds.
public typealias LedgerChange = RecordedChange

extension RecordedChange {
  /// A change applied at `at` milliseconds since the Unix epoch (UTC).
  public init(
    metric: String, delta: Int64, at milliseconds: Int64, key: String? = nil, label: String? = nil,
    detail: ChangeDetail? = nil, kind: ChangeKind = .change
  ) {
    self.init(
      metric: metric, delta: delta, at: Timestamp(milliseconds: milliseconds), key: key, label: label, detail: detail,
      kind: kind)
  }

  /// The UTC day it was applied on (days since the epoch).
  var day: Int64 { at.milliseconds.floorDivided(by: LedgerStore.millisecondsPerDay) }
}

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
  /// The schema, one step per version: version `n` is reached by running `migrations[n - 1]`.
  static let migrations: [String] = [
    """
    CREATE TABLE changes (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      at_ms INTEGER NOT NULL,
      day INTEGER NOT NULL,
      key TEXT,
      label TEXT
    );
    CREATE INDEX changes_by_metric_day ON changes (metric, day);
    """,
    """
    CREATE TABLE idempotency (
      key TEXT PRIMARY KEY,
      fingerprint TEXT NOT NULL,
      answer BLOB NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX idempotency_by_age ON idempotency (at_ms);
    """,
    """
    CREATE TABLE outbox (
      id INTEGER PRIMARY KEY,
      metric TEXT NOT NULL,
      delta INTEGER NOT NULL,
      key TEXT NOT NULL,
      at_ms INTEGER NOT NULL
    );
    """,
    """
    ALTER TABLE changes ADD COLUMN f0 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f1 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f2 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN f3 INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN cost REAL NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN priced INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE changes ADD COLUMN events INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE changes ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE changes ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE changes ADD COLUMN rolled INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX changes_to_roll_up ON changes (rolled, day);
    CREATE TABLE counters (
      metric TEXT NOT NULL,
      day INTEGER NOT NULL,
      label TEXT NOT NULL,
      amount INTEGER NOT NULL CHECK (typeof(amount) = 'integer'),
      f0 INTEGER NOT NULL CHECK (typeof(f0) = 'integer'),
      f1 INTEGER NOT NULL CHECK (typeof(f1) = 'integer'),
      f2 INTEGER NOT NULL CHECK (typeof(f2) = 'integer'),
      f3 INTEGER NOT NULL CHECK (typeof(f3) = 'integer'),
      cost REAL NOT NULL,
      priced INTEGER NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, day, label)
    ) WITHOUT ROWID;
    CREATE INDEX counters_by_day ON counters (day);
    INSERT INTO counters
      SELECT metric, day, COALESCE(label, ''), SUM(delta), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost), MIN(priced),
        SUM(events)
      FROM changes GROUP BY metric, day, COALESCE(label, '');
    INSERT INTO counters
      SELECT metric, -9223372036854775808, label, SUM(amount), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost),
        MIN(priced), SUM(events)
      FROM counters GROUP BY metric, label;
    CREATE TABLE baselines (
      metric TEXT NOT NULL,
      label TEXT NOT NULL,
      since_day INTEGER NOT NULL,
      amount INTEGER NOT NULL,
      f0 INTEGER NOT NULL, f1 INTEGER NOT NULL, f2 INTEGER NOT NULL, f3 INTEGER NOT NULL,
      cost REAL NOT NULL,
      events INTEGER NOT NULL,
      PRIMARY KEY (metric, label)
    ) WITHOUT ROWID;
    CREATE TABLE readings (
      metric TEXT PRIMARY KEY,
      value INTEGER NOT NULL,
      at_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
  ]

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
  private let keep: SQLiteStatement
  private let find: SQLiteStatement
  private let post: SQLiteStatement
  private let deliver: SQLiteStatement
  private let note: SQLiteStatement
  private let version: SQLiteStatement
  /// Whether opening read the whole file with `PRAGMA quick_check` (it does unless the file is as a check or a
  /// clean close last left it).
  public let checkedAtOpen: Bool
  /// How many counter rows the last ``counterTotals(metrics:fromDay:)`` read (start-up reads are bounded by it).
  public private(set) var rowsRead = 0

  /// The state directory: `$XDG_STATE_HOME/usagectx`, else `$HOME/.local/state/usagectx`.
  public static func defaultDirectory(environment: [String: String]) -> String? {
    if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/usagectx" }
    guard let home = environment["HOME"], !home.isEmpty else { return nil }
    return home + "/.local/state/usagectx"
  }

  /// Opens (creating when missing) the ledger in `directory`, which is created too (mode 0700).
  /// - Parameter busyTimeout: how long a write waits for another process's lock, in milliseconds.
  public init(directory: String, busyTimeout: Int32 = 5_000) throws(LedgerError) {
    path = directory + "/" + Self.fileName
    try Self.makeDirectory(directory, for: path)
    try Self.createPrivateFile(path)
    connection = try SQLiteConnection(path: path, create: true)
    sqlite3_busy_timeout(connection.rawHandle, busyTimeout)
    // Before anything is written: a damaged ledger is refused untouched.
    checkedAtOpen = try Self.checkIntegrity(connection, within: busyTimeout)
    // Recognised and migrated under the write lock, so processes opening a new ledger at once take turns.
    try Self.recogniseAndMigrate(connection)
    try Self.useWriteAheadLog(connection, within: busyTimeout)
    try connection.execute("PRAGMA synchronous = FULL")
    insert = try connection.prepare(
      """
      INSERT INTO changes (metric, delta, at_ms, day, key, label, f0, f1, f2, f3, cost, priced, events, kind, count)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
    keep = try connection.prepare(
      "INSERT OR REPLACE INTO idempotency (key, fingerprint, answer, at_ms) VALUES (?, ?, ?, ?)")
    find = try connection.prepare("SELECT fingerprint, answer, at_ms FROM idempotency WHERE key = ? AND at_ms >= ?")
    post = try connection.prepare("INSERT INTO outbox (metric, delta, key, at_ms) VALUES (?, ?, ?, ?)")
    deliver = try connection.prepare("DELETE FROM outbox WHERE id = ?")
    note = try connection.prepare("INSERT OR REPLACE INTO readings (metric, value, at_ms) VALUES (?, ?, ?)")
    version = try connection.prepare("PRAGMA data_version")
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
    try connection.execute("BEGIN IMMEDIATE")
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
      if inTransaction { try connection.execute("COMMIT") }
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
        try post.run([.text(entry.metric), .integer(entry.delta), .text(entry.key), .integer(entry.at)])
        outboxIDs.append(lastInsertID)
      }
      for id in batch.delivered { try deliver.run([.integer(id)]) }
      for baseline in batch.baselines { try setBaseline(baseline) }
      for reading in batch.readings { try note.run([.text(reading.metric), .integer(reading.value), .integer(reading.at)]) }
      try connection.execute("COMMIT")
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

  private func writeChanges(_ changes: [LedgerChange]) throws(LedgerError) {
    var rows: [LedgerChange] = []
    var shared: [ChangeGroup: Int] = [:]
    var counts: [Int64] = []
    var totals: [CounterKey: CounterDelta] = [:]
    var order: [CounterKey] = []
    for change in changes {
      if change.key == nil && change.kind == .change {
        let group = ChangeGroup(metric: change.metric, day: change.day, label: change.label)
        if let row = shared[group] {
          rows[row].delta += change.delta
          rows[row].at = change.at
          rows[row].detail = Self.sum(rows[row].detail, change.detail)
          counts[row] += 1
        } else {
          shared[group] = rows.count
          rows.append(change)
          counts.append(1)
        }
      } else {
        rows.append(change)
        counts.append(1)
      }
      for day in [change.day, Self.allTime] {
        let key = CounterKey(metric: change.metric, day: day, label: change.label ?? "")
        if totals[key] == nil { order.append(key) }
        totals[key, default: CounterDelta()].add(change)
      }
    }
    for (row, change) in rows.enumerated() {
      let detail = change.detail
      try insert.run(
        [
          .text(change.metric), .integer(change.delta), .integer(change.at.milliseconds), .integer(change.day),
          .optional(change.key), .optional(change.label),
        ] + Self.fieldValues(detail?.fields) + [
          .real(detail?.cost ?? 0), .integer(detail?.priced == false ? 0 : 1), .integer(detail?.events ?? 0),
          .integer(change.kind.rawValue), .integer(counts[row]),
        ])
    }
    for key in order {
      guard let delta = totals[key] else { continue }
      try count.run(
        [.text(key.metric), .integer(key.day), .text(key.label), .integer(delta.amount)]
          + Self.fieldValues(delta.fields) + [.real(delta.cost), .integer(delta.priced ? 1 : 0), .integer(delta.events)])
    }
  }

  /// The first ``keptFields`` field values, zeros where missing.
  private static func fieldValues(_ fields: [Int64]?) -> [SQLiteValue] {
    (0..<keptFields).map { position in .integer(fields.map { position < $0.count ? $0[position] : 0 } ?? 0) }
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

  /// The running total of `metric` from `since` (milliseconds, by whole UTC days; `nil` for all time), from the
  /// counters.
  public func total(metric: String, since: Int64?) throws(LedgerError) -> Int64 {
    let firstDay = since.map { $0.floorDivided(by: Self.millisecondsPerDay) }
    let statement = try connection.prepare(
      "SELECT amount FROM counters WHERE metric = ? AND \(firstDay == nil ? "day = ?" : "day >= ?")")
    try statement.bind([.text(metric), .integer(firstDay ?? Self.allTime)])
    var total: Int64 = 0
    while try statement.step() { total = try Self.add(total, statement.int64(0), path) }
    return total
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

  /// The running totals of `metric` from the UTC day `fromDay` (`nil`: over all time) per label, labels in byte
  /// order (changes without one last).
  public func breakdown(metric: String, fromDay: Int64?) throws(LedgerError) -> [BreakdownTotal] {
    let statement = try connection.prepare(
      """
      SELECT label, SUM(amount), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost), MIN(priced), SUM(events)
      FROM counters WHERE metric = ? AND \(fromDay == nil ? "day = ?" : "day >= ?")
      GROUP BY label ORDER BY label = '', label
      """)
    try statement.bind([.text(metric), .integer(fromDay ?? Self.allTime)])
    var result: [BreakdownTotal] = []
    while try statement.step() {
      let label = statement.text(0) ?? ""
      result.append(
        BreakdownTotal(
          label: label.isEmpty ? nil : label, amount: statement.int64(1), fields: (2..<6).map { statement.int64($0) },
          cost: statement.double(6), priced: statement.int64(7) != 0, events: statement.int64(8)))
    }
    return result
  }

  /// The baselines of the breakdown entries of `metric` reset during the period from `fromDay` (`nil`: over all
  /// time): what each entry had used when it was reset.
  public func baselines(metric: String, fromDay: Int64?) throws(LedgerError) -> [BreakdownTotal] {
    let statement = try connection.prepare(
      "SELECT label, amount, f0, f1, f2, f3, cost, events FROM baselines WHERE metric = ? AND since_day = ?")
    try statement.bind([.text(metric), .integer(fromDay ?? Self.allTime)])
    var result: [BreakdownTotal] = []
    while try statement.step() {
      result.append(
        BreakdownTotal(
          label: statement.text(0), amount: statement.int64(1), fields: (2..<6).map { statement.int64($0) },
          cost: statement.double(6), priced: true, events: statement.int64(7)))
    }
    return result
  }

  /// The running totals per metric: over all time (`day` = ``allTime``) and per UTC day from `fromDay`, summed over
  /// labels; only `metrics` when given. Reads one row per metric, label and day of that range, never the change log.
  public func counterTotals(
    metrics: Set<String>? = nil, fromDay: Int64
  ) throws(LedgerError) -> [(metric: String, day: Int64, total: Int64)] {
    var rows: [(metric: String, day: Int64, total: Int64)] = []
    rowsRead = 0
    let statement: SQLiteStatement
    if let metrics {
      statement = try connection.prepare(
        "SELECT day, amount FROM counters WHERE metric = ? AND (day = ? OR day >= ?)")
      for metric in metrics.sorted() {
        try statement.bind([.text(metric), .integer(Self.allTime), .integer(fromDay)])
        var sums: [Int64: Int64] = [:]
        while try statement.step() {
          rowsRead += 1
          sums[statement.int64(0), default: 0] = try Self.add(sums[statement.int64(0), default: 0], statement.int64(1), path)
        }
        for (day, total) in sums { rows.append((metric, day, total)) }
      }
      return rows
    }
    statement = try connection.prepare("SELECT metric, day, amount FROM counters WHERE day = ? OR day >= ?")
    try statement.bind([.integer(Self.allTime), .integer(fromDay)])
    var sums: [String: [Int64: Int64]] = [:]
    while try statement.step() {
      rowsRead += 1
      let metric = statement.text(0) ?? ""
      let day = statement.int64(1)
      sums[metric, default: [:]][day] = try Self.add(sums[metric]?[day] ?? 0, statement.int64(2), path)
    }
    for (metric, days) in sums { for (day, total) in days { rows.append((metric, day, total)) } }
    return rows
  }

  private static func add(_ first: Int64, _ second: Int64, _ path: String) throws(LedgerError) -> Int64 {
    let (sum, overflow) = first.addingReportingOverflow(second)
    guard !overflow else { throw .failed(path: path, reason: "a total passes the 64-bit range") }
    return sum
  }

  /// Rolls the change log of the oldest UTC day before `cutoff` (milliseconds since the epoch) that still holds
  /// individual changes up into one row per metric, label and kind (its `count` the number of changes, its time the
  /// day's start, no key), in one transaction. History by day, month or label reads the same totals afterwards.
  /// Returns the day rolled up (days since the epoch), or `nil` when there was none.
  @discardableResult
  public func rollUpOldestDay(before cutoff: Int64) throws(LedgerError) -> Int64? {
    let lastDay = cutoff.floorDivided(by: Self.millisecondsPerDay) - 1
    guard let day = try connection.integer("SELECT MIN(day) FROM changes WHERE rolled = 0 AND day <= \(lastDay)")
    else { return nil }
    try begin()
    do throws(LedgerError) {
      try connection.execute(
        """
        INSERT INTO changes (metric, delta, at_ms, day, key, label, f0, f1, f2, f3, cost, priced, events, kind, count,
          rolled)
        SELECT metric, SUM(delta), \(day) * \(Self.millisecondsPerDay), day, NULL, label, SUM(f0), SUM(f1), SUM(f2),
          SUM(f3), SUM(cost), MIN(priced), SUM(events), kind, SUM(count), 1
        FROM changes WHERE rolled = 0 AND day = \(day) GROUP BY metric, label, kind;
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
    let statement = try connection.prepare("SELECT id, metric, delta, key, at_ms FROM outbox ORDER BY id")
    var entries: [OutboxEntry] = []
    while try statement.step() {
      entries.append(
        OutboxEntry(
          id: statement.int64(0), metric: statement.text(1) ?? "", delta: statement.int64(2),
          key: statement.text(3) ?? "", at: statement.int64(4)))
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

  // MARK: - Opening

  private static func makeDirectory(_ directory: String, for path: String) throws(LedgerError) {
    var prefix = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
        throw .cannotOpen(path: path, reason: "cannot create \(prefix): \(String(cString: strerror(errno)))")
      }
    }
  }

  /// Accepts a usagectx ledger or an empty database; refuses anything else.
  private static func recognise(_ connection: SQLiteConnection) throws(LedgerError) {
    // The first read of a file that is not SQLite fails here (SQLITE_NOTADB).
    let application = try connection.integer("PRAGMA application_id") ?? 0
    let tables = try connection.integer("SELECT count(*) FROM sqlite_master") ?? 0
    if application == applicationID {
      let version = try connection.integer("PRAGMA user_version") ?? 0
      if version > Int64(migrations.count) {
        throw .newerSchema(path: connection.path, version: version, known: Int64(migrations.count))
      }
      return
    }
    guard application == 0 && tables == 0 else {
      throw .notALedger(
        path: connection.path,
        reason: application == 0
          ? "an SQLite database with \(tables) other objects" : "an SQLite database of application \(application)")
    }
  }

  private static func recogniseAndMigrate(_ connection: SQLiteConnection) throws(LedgerError) {
    try connection.execute("BEGIN IMMEDIATE")
    do throws(LedgerError) {
      try recognise(connection)
      let version = try connection.integer("PRAGMA user_version") ?? 0
      for step in Int(version)..<migrations.count {
        try connection.execute(migrations[step])
        try connection.execute("PRAGMA user_version = \(step + 1)")
      }
      try connection.execute("PRAGMA application_id = \(applicationID)")
      try connection.execute("COMMIT")
    } catch {
      try? connection.execute("ROLLBACK")
      throw error
    }
  }

  /// Switches to write-ahead logging (a no-op once any process did), retrying while another process holds the
  /// database, for at most `timeout` milliseconds.
  private static func useWriteAheadLog(_ connection: SQLiteConnection, within timeout: Int32) throws(LedgerError) {
    var waited: Int32 = 0
    while true {
      do throws(LedgerError) {
        guard try connection.text("PRAGMA journal_mode = WAL")?.lowercased() == "wal" else {
          throw .failed(path: connection.path, reason: "cannot use write-ahead logging")
        }
        return
      } catch {
        guard case .busy = error, waited < timeout else { throw error }
        usleep(10_000)
        waited += 10
      }
    }
  }
}
