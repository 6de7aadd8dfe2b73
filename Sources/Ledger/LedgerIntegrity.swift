import CSQLite
import Glibc

extension LedgerStore {
  /// How many errors `PRAGMA quick_check` reports at most before it stops.
  static let checkErrorLimit = 10
  /// How many of its lines a ``LedgerError/damaged(path:reason:)`` quotes.
  static let quotedCheckLines = 3

  /// Refuses a damaged ledger before anything is written to it: runs `PRAGMA quick_check` on an existing, non-empty
  /// file (a new, empty one needs none). A damaged file is closed without a checkpoint, so its bytes stay as they
  /// were. Retries while another process holds the database, for at most `timeout` milliseconds.
  ///
  /// quick_check reads every page of the file (it skips only the comparison of indexes with their tables), so its
  /// cost grows with the ledger.
  static func checkIntegrity(_ connection: SQLiteConnection, within timeout: Int32) throws(LedgerError) {
    var status = stat()
    guard stat(connection.path, &status) == 0 else {
      throw .cannotOpen(path: connection.path, reason: String(cString: strerror(errno)))
    }
    guard status.st_size > 0 else { return }
    var waited: Int32 = 0
    while true {
      do throws(LedgerError) {
        let lines = try quickCheck(connection)
        guard lines != ["ok"] else { return }
        throw LedgerError.damaged(
          path: connection.path, reason: lines.prefix(quotedCheckLines).joined(separator: "; "))
      } catch {
        if case .damaged = error { keepFileOnClose(connection) }
        guard case .busy = error, waited < timeout else { throw error }
        usleep(10_000)
        waited += 10
      }
    }
  }

  /// The lines quick_check reports (`["ok"]` for a sound file), without the name of the database they are about. An
  /// SQLite error that says the file is corrupt (a damaged schema or first page) is a damaged ledger too.
  private static func quickCheck(_ connection: SQLiteConnection) throws(LedgerError) -> [String] {
    let handle = connection.rawHandle
    var statement: OpaquePointer?
    var status = sqlite3_prepare_v2(handle, "PRAGMA quick_check(\(checkErrorLimit))", -1, &statement, nil)
    defer { sqlite3_finalize(statement) }
    var lines: [String] = []
    while status == SQLITE_OK || status == SQLITE_ROW {
      status = sqlite3_step(statement)
      if status == SQLITE_ROW, let row = sqlite3_column_text(statement, 0) {
        let found = String(cString: row).split(separator: "\n").map(String.init)
        lines += found.filter { !$0.hasPrefix("*** in database") }
      }
    }
    guard status == SQLITE_DONE else {
      let message = String(cString: sqlite3_errmsg(handle))
      if status & 0xFF == SQLITE_CORRUPT { throw .damaged(path: connection.path, reason: message) }
      throw connection.error(status, message)
    }
    return lines
  }

  /// Closing the last connection to a database in WAL mode copies the log into the file (a checkpoint); a damaged
  /// file is left as it was instead.
  private static func keepFileOnClose(_ connection: SQLiteConnection) {
    usagectx_sqlite3_db_config_int(connection.rawHandle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nil)
  }
}
