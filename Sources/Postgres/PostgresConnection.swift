import CLibPQ
import Glibc

/// One connection to a PostgreSQL server through libpq, used synchronously by its one owner.
///
/// Statements are sent as one string of the simple query protocol (``run(_:)``): several statements cost one round
/// trip, and every statement's rows come back. Values are put into statements with ``literal(_:)`` (libpq's quoting).
/// Notifications (`LISTEN`) arrive on ``socket``; ``notifications()`` takes those received.
///
/// - Important: Not thread-safe: one owner uses it (the session's loop thread).
public final class PostgresConnection {
  private let handle: OpaquePointer
  /// Notifications libpq read while a statement ran (the socket holds no more of them), until ``notifications()``.
  private var queued: [(channel: String, payload: String)] = []

  /// Connects to `url` (a `postgres://` URL or a libpq connection string); fails within `timeoutSeconds`.
  public init(url: String, timeoutSeconds: Int = 3) throws(PostgresError) {
    if let failure = upq_load() { throw PostgresError(String(cString: failure)) }
    let keys = ["dbname", "connect_timeout", "application_name"]
    let values = [url, String(timeoutSeconds), "usagectx"]
    let connection = Self.withCStrings(keys) { keyPointers in
      Self.withCStrings(values) { valuePointers in upq_PQconnectdbParams(keyPointers, valuePointers, 1) }
    }
    guard let connection else { throw PostgresError("out of memory connecting to PostgreSQL") }
    guard upq_PQstatus(connection) == CONNECTION_OK else {
      let message = Self.errorMessage(connection)
      upq_PQfinish(connection)
      throw PostgresError(message)
    }
    handle = connection
  }

  deinit { upq_PQfinish(handle) }

  /// Whether the connection is still up (as far as libpq knows).
  public var isUp: Bool { upq_PQstatus(handle) == CONNECTION_OK }

  /// The connection's socket, readable when the server sent something (a notification).
  public var socket: Int32 { upq_PQsocket(handle) }

  /// Runs `sql` (one or more statements, one round trip) and returns the rows of each statement that returned rows.
  /// A failing statement makes the whole call throw; libpq stops at it (the transaction, if any, is aborted).
  @discardableResult
  public func run(_ sql: String) throws(PostgresError) -> [PostgresRows] {
    guard upq_PQsendQuery(handle, sql) == 1 else { throw PostgresError(Self.errorMessage(handle)) }
    var results: [PostgresRows] = []
    var failure: PostgresError?
    while let result = upq_PQgetResult(handle) {
      defer { upq_PQclear(result) }
      switch upq_PQresultStatus(result) {
      case PGRES_TUPLES_OK: results.append(PostgresRows(result))
      case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY: break
      default:
        if failure == nil {
          failure = PostgresError(String(cString: upq_PQresultErrorMessage(result)), state: Self.sqlState(result))
        }
      }
    }
    takeQueued()
    if let failure { throw failure }
    if upq_PQstatus(handle) != CONNECTION_OK { throw PostgresError(Self.errorMessage(handle)) }
    return results
  }

  /// Reads what arrived on the socket and returns the notifications received: `(channel, payload)` pairs.
  /// Throws when the connection was lost.
  public func notifications() throws(PostgresError) -> [(channel: String, payload: String)] {
    guard upq_PQconsumeInput(handle) == 1 else { throw PostgresError(Self.errorMessage(handle)) }
    takeQueued()
    defer { queued = [] }
    return queued
  }

  /// Whether notifications arrived while a statement ran: the socket will not say so, so the owner asks.
  public var hasQueuedNotifications: Bool { !queued.isEmpty }

  private func takeQueued() {
    while let notice = upq_PQnotifies(handle) {
      queued.append((String(cString: notice.pointee.relname), String(cString: notice.pointee.extra)))
      upq_PQfreemem(notice)
    }
  }

  /// `text` as an SQL string literal, quoted by libpq for this connection.
  public func literal(_ text: String) -> String {
    guard let quoted = upq_PQescapeLiteral(handle, text, text.utf8.count) else { return "NULL" }
    defer { upq_PQfreemem(quoted) }
    return String(cString: quoted)
  }

  private static func errorMessage(_ connection: OpaquePointer) -> String {
    let text = String(cString: upq_PQerrorMessage(connection))
    return text.split(separator: "\n").first.map(String.init) ?? "unknown PostgreSQL error"
  }

  private static func sqlState(_ result: OpaquePointer) -> String? {
    guard let code = upq_PQresultErrorField(result, Int32(UInt8(ascii: "C"))) else { return nil }
    return String(cString: code)
  }

  private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { buffer in
      buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: buffer.count) { body($0) }
    }
  }
}

/// The rows one statement returned, as text (`nil` for SQL NULL).
public struct PostgresRows: Sendable {
  public let rows: [[String?]]

  init(_ result: OpaquePointer) {
    let count = upq_PQntuples(result)
    let columns = upq_PQnfields(result)
    var rows: [[String?]] = []
    rows.reserveCapacity(Int(count))
    for row in 0..<count {
      rows.append(
        (0..<columns).map { column in
          upq_PQgetisnull(result, row, column) == 1 ? nil : String(cString: upq_PQgetvalue(result, row, column))
        })
    }
    self.rows = rows
  }
}

/// Why PostgreSQL refused or could not be reached.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
  public var message: String
  /// The SQLSTATE of a refused statement (`nil` for a connection failure).
  public var state: String?

  public init(_ message: String, state: String? = nil) {
    self.message = message.trimmingSuffixNewlines()
    self.state = state
  }

  public var description: String { message }
}

extension String {
  fileprivate func trimmingSuffixNewlines() -> String {
    var text = self
    while text.last == "\n" || text.last == " " { text.removeLast() }
    return text
  }
}
