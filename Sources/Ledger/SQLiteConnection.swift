import CSQLite
import Glibc

/// One connection to an SQLite database, with the few operations the ledger needs: plain statements, prepared
/// statements, and the first column of the first row.
///
/// - Important: Not thread-safe; owned by one thread (or behind its owner's lock), like an SQLite connection opened
///   with `SQLITE_OPEN_NOMUTEX`.
final class SQLiteConnection {
  let path: String
  private let handle: OpaquePointer

  /// Opens `path`, creating the file when `create` is set; only for reading when `readOnly` is.
  init(path: String, create: Bool, readOnly: Bool = false) throws(LedgerError) {
    self.path = path
    var opened: OpaquePointer?
    let flags =
      (readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE) | SQLITE_OPEN_NOMUTEX
      | (create && !readOnly ? SQLITE_OPEN_CREATE : 0)
    let status = sqlite3_open_v2(path, &opened, flags, nil)
    guard status == SQLITE_OK, let opened else {
      let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(status))
      if let opened { sqlite3_close_v2(opened) }
      throw .cannotOpen(path: path, reason: message)
    }
    handle = opened
    sqlite3_extended_result_codes(handle, 1)
  }

  deinit {
    sqlite3_close_v2(handle)
    busyTimeout?.deallocate()
  }

  /// How long a statement waits for another connection's lock, in milliseconds (read by ``waitWhileBusy``).
  private var busyTimeout: UnsafeMutablePointer<Int32>?

  /// Waits up to `milliseconds` for another connection's lock before a statement fails as busy. Unlike
  /// `sqlite3_busy_timeout`, whose sleeps grow to 100 ms, it looks again every quarter of a millisecond at first and
  /// every millisecond later, so processes taking turns at a write lock held for a millisecond or two do not wait
  /// tens of milliseconds each.
  func setBusyTimeout(_ milliseconds: Int32) {
    if busyTimeout == nil { busyTimeout = .allocate(capacity: 1) }
    busyTimeout?.pointee = milliseconds
    sqlite3_busy_handler(handle, waitWhileBusy, busyTimeout)
  }

  /// Runs `sql` (one or more statements without results).
  func execute(_ sql: String) throws(LedgerError) {
    var message: UnsafeMutablePointer<CChar>?
    let status = sqlite3_exec(handle, sql, nil, nil, &message)
    let text = message.map { String(cString: $0) }
    sqlite3_free(message)
    guard status == SQLITE_OK else { throw error(status, text) }
  }

  /// Prepares `sql` for repeated use.
  func prepare(_ sql: String) throws(LedgerError) -> SQLiteStatement {
    var statement: OpaquePointer?
    let status = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
    guard status == SQLITE_OK, let statement else { throw error(status, nil) }
    return SQLiteStatement(statement, connection: self)
  }

  /// The first column of the first row of `sql`, as an integer (`nil` when there is no row or it is NULL).
  func integer(_ sql: String) throws(LedgerError) -> Int64? {
    let statement = try prepare(sql)
    guard try statement.step() else { return nil }
    return statement.isNull(0) ? nil : statement.int64(0)
  }

  /// The first column of the first row of `sql`, as text.
  func text(_ sql: String) throws(LedgerError) -> String? {
    let statement = try prepare(sql)
    guard try statement.step() else { return nil }
    return statement.text(0)
  }

  /// The error for an SQLite result code, with the connection's message.
  func error(_ status: Int32, _ message: String?) -> LedgerError {
    let text = message ?? String(cString: sqlite3_errmsg(handle))
    switch status & 0xFF {
    case SQLITE_NOTADB, SQLITE_CORRUPT: return .notALedger(path: path, reason: text)
    case SQLITE_BUSY, SQLITE_LOCKED: return .busy(path: path, reason: text)
    case SQLITE_FULL: return .full(path: path, reason: text)
    default: return .failed(path: path, reason: text)
    }
  }

  var rawHandle: OpaquePointer { handle }
}

/// A prepared statement of one ``SQLiteConnection``. Bind, step, read columns, reset.
final class SQLiteStatement {
  private let statement: OpaquePointer
  private unowned let connection: SQLiteConnection

  fileprivate init(_ statement: OpaquePointer, connection: SQLiteConnection) {
    self.statement = statement
    self.connection = connection
  }

  deinit {
    sqlite3_finalize(statement)
  }

  /// Binds parameters 1, 2, ... in order (`nil` binds NULL).
  func bind(_ values: [SQLiteValue]) throws(LedgerError) {
    sqlite3_reset(statement)
    sqlite3_clear_bindings(statement)
    for (offset, value) in values.enumerated() {
      let position = Int32(offset + 1)
      let status: Int32
      switch value {
      case .integer(let number): status = sqlite3_bind_int64(statement, position, number)
      case .real(let number): status = sqlite3_bind_double(statement, position, number)
      case .text(let text):
        status = text.withCString { sqlite3_bind_text(statement, position, $0, -1, sqliteTransient) }
      case .blob(let bytes):
        status = bytes.withUnsafeBytes { raw in
          sqlite3_bind_blob(
            statement, position, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(raw.count), sqliteTransient)
        }
      case .null: status = sqlite3_bind_null(statement, position)
      }
      guard status == SQLITE_OK else { throw connection.error(status, nil) }
    }
  }

  /// Clears the previous run and its bindings before parameters are bound one by one (``bind(_:_:)-integer``…):
  /// the statements of every commit bind this way, without building an array of values.
  func start() {
    sqlite3_reset(statement)
    sqlite3_clear_bindings(statement)
  }

  /// Binds parameter `position` (from 1) to an integer.
  func bind(_ position: Int32, _ number: Int64) throws(LedgerError) {
    let status = sqlite3_bind_int64(statement, position, number)
    guard status == SQLITE_OK else { throw connection.error(status, nil) }
  }

  /// Binds parameter `position` (from 1) to a real number.
  func bind(_ position: Int32, _ number: Double) throws(LedgerError) {
    let status = sqlite3_bind_double(statement, position, number)
    guard status == SQLITE_OK else { throw connection.error(status, nil) }
  }

  /// Binds parameter `position` (from 1) to a text, or NULL when `text` is `nil`.
  func bind(_ position: Int32, _ text: String?) throws(LedgerError) {
    guard let text else { return }  // cleared bindings are NULL
    // withCString lends a native string's own bytes; passing the String itself would copy them into a new array.
    let status = text.withCString { sqlite3_bind_text(statement, position, $0, -1, sqliteTransient) }
    guard status == SQLITE_OK else { throw connection.error(status, nil) }
  }

  /// Runs the statement, bound since ``start()``, to its end.
  func runBound() throws(LedgerError) {
    while try step() {}
  }

  /// How many rows the last INSERT, UPDATE or DELETE of the connection changed.
  var changes: Int32 { sqlite3_changes(connection.rawHandle) }

  /// Steps once: `true` when a row is available, `false` when done.
  @discardableResult
  func step() throws(LedgerError) -> Bool {
    let status = sqlite3_step(statement)
    switch status {
    case SQLITE_ROW: return true
    case SQLITE_DONE:
      sqlite3_reset(statement)
      return false
    default:
      sqlite3_reset(statement)
      throw connection.error(status, nil)
    }
  }

  /// Ends the current run of the statement (its rows are not all read), so it can be bound again.
  func reset() {
    sqlite3_reset(statement)
  }

  /// Binds `values` and runs the statement to its end.
  func run(_ values: [SQLiteValue]) throws(LedgerError) {
    try bind(values)
    while try step() {}
  }

  func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
  func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(statement, column) }
  func double(_ column: Int32) -> Double { sqlite3_column_double(statement, column) }
  func blob(_ column: Int32) -> [UInt8] {
    let count = Int(sqlite3_column_bytes(statement, column))
    guard count > 0, let bytes = sqlite3_column_blob(statement, column) else { return [] }
    return Array(UnsafeRawBufferPointer(start: bytes, count: count))
  }

  func text(_ column: Int32) -> String? {
    guard let bytes = sqlite3_column_text(statement, column) else { return nil }
    return String(cString: bytes)
  }
}

/// A value bound to a statement parameter.
enum SQLiteValue: Equatable {
  case integer(Int64)
  case real(Double)
  case text(String)
  case blob([UInt8])
  case null

  static func optional(_ text: String?) -> SQLiteValue { text.map { .text($0) } ?? .null }
}

/// The busy handler of ``SQLiteConnection/setBusyTimeout(_:)``: `context` points at the timeout in milliseconds,
/// `attempts` counts the calls so far for this wait. Returns 1 to try again, 0 to give up.
private func waitWhileBusy(_ context: UnsafeMutableRawPointer?, _ attempts: Int32) -> Int32 {
  let timeout = Int64(context?.load(as: Int32.self) ?? 0) * 1_000
  let quick: Int64 = 40
  let waited = Int64(attempts) < quick ? Int64(attempts) * 250 : quick * 250 + (Int64(attempts) - quick) * 1_000
  guard waited < timeout else { return 0 }
  usleep(Int64(attempts) < quick ? 250 : 1_000)
  return 1
}

/// SQLite copies the bound text before the call returns.
private let sqliteTransient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)
