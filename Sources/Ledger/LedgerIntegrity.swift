import CSQLite
import Glibc

extension LedgerStore {
  /// How many errors `PRAGMA quick_check` reports at most before it stops.
  static let checkErrorLimit = 10
  /// How many of its lines a ``LedgerError/damaged(path:reason:)`` quotes.
  static let quotedCheckLines = 3

  /// Refuses a damaged ledger before anything is written to it: runs `PRAGMA quick_check` on an existing, non-empty
  /// file (a new, empty one needs none), unless the file is exactly as usagectx last left it after a check or a
  /// clean close (see ``markChecked()``). A damaged file is closed without a checkpoint, so its bytes stay as they
  /// were. Retries while another process holds the database, for at most `timeout` milliseconds.
  ///
  /// quick_check reads every page of the file (it skips only the comparison of indexes with their tables), so its
  /// cost grows with the ledger; the mark keeps it off the start-up of a session that follows a clean one.
  /// Returns whether quick_check ran.
  @discardableResult
  static func checkIntegrity(_ connection: SQLiteConnection, within timeout: Int32) throws(LedgerError) -> Bool {
    var status = stat()
    guard stat(connection.path, &status) == 0 else {
      throw .cannotOpen(path: connection.path, reason: String(cString: strerror(errno)))
    }
    guard status.st_size > 0 else { return false }
    if let identity = fileIdentity(connection.path), readMark(connection.path) == identity { return false }
    var waited: Int32 = 0
    while true {
      do throws(LedgerError) {
        let lines = try quickCheck(connection)
        guard lines != ["ok"] else {
          writeMark(connection.path)
          return true
        }
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

// MARK: - The mark of a checked file

extension LedgerStore {
  /// The file beside the ledger that names the state of the database file last checked or cleanly closed.
  static func markPath(_ path: String) -> String { path + "-checked" }

  /// What identifies the database file's bytes without reading them: device, inode, size and modification time
  /// (to the nanosecond). Any write through SQLite or anything else changes the size or the time.
  static func fileIdentity(_ path: String) -> String? {
    var status = stat()
    guard stat(path, &status) == 0 else { return nil }
    return "\(status.st_dev) \(status.st_ino) \(status.st_size) \(status.st_mtim.tv_sec) \(status.st_mtim.tv_nsec)"
  }

  private static func readMark(_ path: String) -> String? {
    let descriptor = open(markPath(path), O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { return nil }
    defer { close(descriptor) }
    var buffer = [UInt8](repeating: 0, count: 256)
    let count = read(descriptor, &buffer, buffer.count)
    guard count > 0 else { return nil }
    return String(decoding: buffer[0..<count], as: UTF8.self)
  }

  /// Records the database file's current identity as checked (written aside, then renamed over the mark, mode
  /// 0600). A mark that cannot be written only means the next start checks the file again.
  static func writeMark(_ path: String) {
    guard let identity = fileIdentity(path) else { return }
    let mark = markPath(path)
    let temporary = mark + ".tmp"
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else { return }
    let written = identity.utf8CString.withUnsafeBufferPointer { Glibc.write(descriptor, $0.baseAddress, $0.count - 1) }
    close(descriptor)
    if written == identity.utf8.count {
      rename(temporary, mark)
    } else {
      unlink(temporary)
    }
  }

  /// At the end of a clean session: copies the write-ahead log into the file and empties it (so that closing the
  /// connection changes nothing more), then marks the file as checked, so the next start need not read it all again.
  /// While another process holds the log, the mark is left as it is (the next start checks the file).
  public func markChecked() {
    do throws(LedgerError) {
      let statement = try connection.prepare("PRAGMA wal_checkpoint(TRUNCATE)")
      guard try statement.step(), statement.int64(0) == 0 else { return }
      statement.reset()
      Self.writeMark(path)
    } catch {
      // Only the next start's shortcut is lost: it checks the whole file.
    }
  }
}
