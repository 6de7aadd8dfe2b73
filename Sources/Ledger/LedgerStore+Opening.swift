import CSQLite
import Glibc

/// Opening a ledger: its directory, recognising the file, migrating its schema, write-ahead logging.
extension LedgerStore {

  static func makeDirectory(_ directory: String, for path: String) throws(LedgerError) {
    var prefix = directory.hasPrefix("/") ? "" : "."
    for component in directory.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
        throw .cannotOpen(path: path, reason: "cannot create \(prefix): \(String(cString: strerror(errno)))")
      }
    }
  }

  /// Accepts only a usagectx ledger of the schema this usagectx writes (a reader that may not migrate it).
  static func recogniseCurrent(_ connection: SQLiteConnection) throws(LedgerError) {
    let application = try connection.integer("PRAGMA application_id") ?? 0
    guard application == applicationID else {
      throw .notALedger(path: connection.path, reason: "not a usagectx ledger (application \(application))")
    }
    let version = try connection.integer("PRAGMA user_version") ?? 0
    if version > Int64(migrations.count) {
      throw .newerSchema(path: connection.path, version: version, known: Int64(migrations.count))
    }
    guard version == Int64(migrations.count) else {
      throw .failed(
        path: connection.path,
        reason: "schema \(version) is older than \(migrations.count): not migrated when only read")
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

  /// Recognises the file and brings its schema up to date, then makes sure it uses write-ahead logging. A ledger
  /// that is already current is only read (nothing is written at open); a new, empty file switches to write-ahead
  /// logging first, so that its schema is created with one commit of the log. Migrations run under the write lock
  /// and look again once they hold it, so processes opening a new ledger at once take turns.
  static func recogniseAndMigrate(_ connection: SQLiteConnection, within timeout: Int32) throws(LedgerError) {
    let application = try connection.integer("PRAGMA application_id") ?? 0
    let version = try connection.integer("PRAGMA user_version") ?? 0
    if application == applicationID && version == Int64(migrations.count) {
      return try useWriteAheadLog(connection, within: timeout)
    }
    // Read in one transaction: another process may be creating the schema, and its tables and application id must
    // be seen together (both or neither).
    try connection.execute("BEGIN")
    do throws(LedgerError) {
      try recognise(connection)
      try connection.execute("COMMIT")
    } catch {
      try? connection.execute("ROLLBACK")  // harmless: the error that led here is the one reported
      throw error
    }
    if application == 0 { try useWriteAheadLog(connection, within: timeout) }
    try connection.execute("BEGIN IMMEDIATE")
    do throws(LedgerError) {
      try recognise(connection)
      let version = try connection.integer("PRAGMA user_version") ?? 0
      let objects = try connection.integer("SELECT count(*) FROM sqlite_master") ?? 0
      if version == 0 && objects == 0 {
        try connection.execute(currentSchema)
        try connection.execute("PRAGMA user_version = \(migrations.count)")
      }
      for step in Int(try connection.integer("PRAGMA user_version") ?? 0)..<migrations.count {
        try connection.execute(migrations[step])
        try connection.execute("PRAGMA user_version = \(step + 1)")
      }
      if try connection.integer("PRAGMA application_id") != applicationID {
        try connection.execute("PRAGMA application_id = \(applicationID)")
      }
      try connection.execute("COMMIT")
    } catch {
      try? connection.execute("ROLLBACK")  // harmless: the error that led here is the one reported
      throw error
    }
    try useWriteAheadLog(connection, within: timeout)
  }

  /// Switches to write-ahead logging (a no-op once any process did), retrying while another process holds the
  /// database, for at most `timeout` milliseconds. SQLite answers the mode it kept when another connection's lock
  /// stopped the switch (processes opening a new ledger at once), so that answer is retried too.
  static func useWriteAheadLog(_ connection: SQLiteConnection, within timeout: Int32) throws(LedgerError) {
    var waited: Int32 = 0
    while true {
      do throws(LedgerError) {
        let mode = try connection.text("PRAGMA journal_mode = WAL")?.lowercased()
        if mode == "wal" { return }
        guard waited < timeout else {
          throw .failed(
            path: connection.path, reason: "cannot use write-ahead logging (the journal stays \(mode ?? "?"))")
        }
      } catch {
        guard case .busy = error, waited < timeout else { throw error }
      }
      usleep(10_000)
      waited += 10
    }
  }
}
