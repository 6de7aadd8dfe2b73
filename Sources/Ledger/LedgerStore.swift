import CSQLite
import Glibc
public import UsageCore

/// An answer given to a change that carried an idempotency key, kept so that a retry gets it again.
public struct KeptAnswer: Sendable, Equatable {
  public var key: String
  /// What identifies the request's parameters (a retry with other parameters is refused).
  public var fingerprint: String
  /// The answer's `result`, as written.
  public var answer: [UInt8]
  /// When it was given, in milliseconds since the epoch.
  public var at: Int64

  public init(key: String, fingerprint: String, answer: [UInt8], at: Int64) {
    self.key = key
    self.fingerprint = fingerprint
    self.answer = answer
    self.at = at
  }
}

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

  public init(
    changes: [LedgerChange] = [], answers: [KeptAnswer] = [], outbox: [OutboxEntry] = [], delivered: [Int64] = []
  ) {
    self.changes = changes
    self.answers = answers
    self.outbox = outbox
    self.delivered = delivered
  }

  public var isEmpty: Bool { changes.isEmpty && answers.isEmpty && outbox.isEmpty && delivered.isEmpty }
}

/// The ids one commit gave: its changes' (consecutive) and its new outbox entries', in order.
public struct LedgerWrite: Sendable, Equatable {
  public var changeIDs: ClosedRange<Int64>?
  public var outboxIDs: [Int64]
}

/// One change as the ledger records it.
public struct LedgerChange: Sendable, Equatable {
  public var metric: String
  public var delta: Int64
  /// When it was applied, in milliseconds since the Unix epoch (UTC).
  public var at: Int64
  /// The client's idempotency key, if it gave one.
  public var key: String?
  /// The breakdown entry it counted towards (a model), if any.
  public var label: String?
  /// Its fields, cost and events, if the metric has them.
  public var detail: ChangeDetail?

  public init(
    metric: String, delta: Int64, at: Int64, key: String? = nil, label: String? = nil, detail: ChangeDetail? = nil
  ) {
    self.metric = metric
    self.delta = delta
    self.at = at
    self.key = key
    self.label = label
    self.detail = detail
  }
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
  ]

  /// How many field values a change keeps (`f0`…`f3`); further fields are not kept.
  public static let keptFields = 4

  /// The schema version this usagectx writes.
  public static var latestSchemaVersion: Int64 { Int64(migrations.count) }

  /// The database file.
  public let path: String
  let connection: SQLiteConnection
  private let insert: SQLiteStatement
  private let sum: SQLiteStatement
  private let totals: SQLiteStatement
  private let keep: SQLiteStatement
  private let find: SQLiteStatement
  private let post: SQLiteStatement
  private let deliver: SQLiteStatement

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
    try Self.checkIntegrity(connection, within: busyTimeout)
    // Recognised and migrated under the write lock, so processes opening a new ledger at once take turns.
    try Self.recogniseAndMigrate(connection)
    try Self.useWriteAheadLog(connection, within: busyTimeout)
    try connection.execute("PRAGMA synchronous = FULL")
    insert = try connection.prepare(
      """
      INSERT INTO changes (metric, delta, at_ms, day, key, label, f0, f1, f2, f3, cost, priced, events)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      """)
    totals = try connection.prepare(
      """
      SELECT label, SUM(delta), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost), MIN(priced), SUM(events)
      FROM changes WHERE metric = ? AND day >= ? GROUP BY label ORDER BY MIN(id)
      """)
    sum = try connection.prepare("SELECT COALESCE(SUM(delta), 0) FROM changes WHERE metric = ? AND day >= ?")
    keep = try connection.prepare(
      "INSERT OR REPLACE INTO idempotency (key, fingerprint, answer, at_ms) VALUES (?, ?, ?, ?)")
    find = try connection.prepare("SELECT fingerprint, answer, at_ms FROM idempotency WHERE key = ?")
    post = try connection.prepare("INSERT INTO outbox (metric, delta, key, at_ms) VALUES (?, ?, ?, ?)")
    deliver = try connection.prepare("DELETE FROM outbox WHERE id = ?")
  }

  /// The schema version of the file.
  public var schemaVersion: Int64 { (try? connection.integer("PRAGMA user_version")) ?? 0 }
  /// `wal` once opened.
  public var journalMode: String { (try? connection.text("PRAGMA journal_mode")) ?? "" }
  /// 2 (`FULL`) once opened.
  public var synchronous: Int64 { (try? connection.integer("PRAGMA synchronous")) ?? -1 }

  /// Appends `changes`, and the answers given under idempotency keys, in one transaction: all of them are durable
  /// when this returns, or none is. Returns the ids the changes got (consecutive: the transaction holds the write
  /// lock), or `nil` when there were none.
  @discardableResult
  public func append(_ changes: [LedgerChange], answers: [KeptAnswer] = []) throws(LedgerError) -> ClosedRange<Int64>? {
    try write(LedgerBatch(changes: changes, answers: answers)).changeIDs
  }

  /// Writes `batch` in one transaction: all of it is durable when this returns, or none of it.
  public func write(_ batch: LedgerBatch) throws(LedgerError) -> LedgerWrite {
    let changes = batch.changes
    let answers = batch.answers
    guard !batch.isEmpty else { return LedgerWrite(changeIDs: nil, outboxIDs: []) }
    try connection.execute("BEGIN IMMEDIATE")
    do throws(LedgerError) {
      for change in changes {
        let detail = change.detail
        try insert.run(
          [
            .text(change.metric), .integer(change.delta), .integer(change.at),
            .integer(change.at.floorDivided(by: 86_400_000)), .optional(change.key), .optional(change.label),
          ] + (0..<Self.keptFields).map { position in
            .integer(detail.map { position < $0.fields.count ? $0.fields[position] : 0 } ?? 0)
          } + [
            .real(detail?.cost ?? 0), .integer(detail?.priced == false ? 0 : 1), .integer(detail?.events ?? 0),
          ])
      }
      let ids = changes.isEmpty ? nil : (lastInsertID - Int64(changes.count) + 1)...lastInsertID
      for answer in answers {
        try keep.run([.text(answer.key), .text(answer.fingerprint), .blob(answer.answer), .integer(answer.at)])
      }
      var outboxIDs: [Int64] = []
      for entry in batch.outbox {
        try post.run([.text(entry.metric), .integer(entry.delta), .text(entry.key), .integer(entry.at)])
        outboxIDs.append(lastInsertID)
      }
      for id in batch.delivered { try deliver.run([.integer(id)]) }
      try connection.execute("COMMIT")
      return LedgerWrite(changeIDs: ids, outboxIDs: outboxIDs)
    } catch {
      try? connection.execute("ROLLBACK")
      throw error
    }
  }

  /// The sum of the changes to `metric` applied from `since` (milliseconds, counted by whole UTC days; `nil` for
  /// all).
  public func total(metric: String, since: Int64?) throws(LedgerError) -> Int64 {
    let firstDay = since.map { $0.floorDivided(by: 86_400_000) } ?? .min
    try sum.bind([.text(metric), .integer(firstDay)])
    defer { _ = try? sum.step() }
    guard try sum.step() else { return 0 }
    return sum.int64(0)
  }

  /// The answer kept under `key`, if any.
  public func keptAnswer(_ key: String) throws(LedgerError) -> KeptAnswer? {
    try find.bind([.text(key)])
    guard try find.step() else { return nil }
    defer { _ = try? find.step() }
    return KeptAnswer(key: key, fingerprint: find.text(0) ?? "", answer: find.blob(1), at: find.int64(2))
  }

  /// Forgets the answers kept before `cutoff` (milliseconds since the epoch). Returns how many.
  @discardableResult
  public func forgetAnswers(before cutoff: Int64) throws(LedgerError) -> Int {
    try connection.execute("DELETE FROM idempotency WHERE at_ms < \(cutoff)")
    return Int(sqlite3_changes(connection.rawHandle))
  }

  /// The changes to `metric` from `since` (milliseconds, by whole UTC days; `nil` for all) summed per label, in the
  /// order the labels first appeared.
  public func breakdown(metric: String, since: Int64?) throws(LedgerError) -> [BreakdownTotal] {
    let firstDay = since.map { $0.floorDivided(by: 86_400_000) } ?? .min
    try totals.bind([.text(metric), .integer(firstDay)])
    var result: [BreakdownTotal] = []
    while try totals.step() {
      result.append(
        BreakdownTotal(
          label: totals.isNull(0) ? nil : totals.text(0), amount: totals.int64(1),
          fields: (2..<2 + Int32(Self.keptFields)).map { totals.int64($0) }, cost: totals.double(6),
          priced: totals.int64(7) != 0, events: totals.int64(8)))
    }
    return result
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
    try connection.integer("PRAGMA data_version") ?? 0
  }

  /// The highest change id written so far (0 for none).
  public func lastChangeID() throws(LedgerError) -> Int64 {
    try connection.integer("SELECT COALESCE(MAX(id), 0) FROM changes") ?? 0
  }

  /// The id of the last change this connection inserted.
  var lastInsertID: Int64 { sqlite3_last_insert_rowid(connection.rawHandle) }

  /// The totals per metric per UTC day of the changes with ids in `range` (another process's, typically).
  public func dayTotals(ids range: ClosedRange<Int64>) throws(LedgerError) -> [(metric: String, day: Int64, total: Int64)] {
    let statement = try connection.prepare(
      "SELECT metric, day, SUM(delta) FROM changes WHERE id BETWEEN ? AND ? GROUP BY metric, day")
    try statement.bind([.integer(range.lowerBound), .integer(range.upperBound)])
    var rows: [(metric: String, day: Int64, total: Int64)] = []
    while try statement.step() {
      guard let metric = statement.text(0) else { continue }
      rows.append((metric, statement.int64(1), statement.int64(2)))
    }
    return rows
  }

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
