/// Why the durable ledger could not do what it was asked. Every case names the database file.
public enum LedgerError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The file (or its directory) could not be opened or created.
  case cannotOpen(path: String, reason: String)
  /// The file is not a usagectx ledger: not an SQLite database, or another program's database (corruption SQLite
  /// reports after the open is this too). It is never recreated over.
  case notALedger(path: String, reason: String)
  /// The ledger is damaged: `PRAGMA quick_check` found errors when it was opened (the reason quotes its first lines).
  /// Nothing was written to it.
  case damaged(path: String, reason: String)
  /// The ledger was written by a newer usagectx, with a schema this one does not know.
  case newerSchema(path: String, version: Int64, known: Int64)
  /// Another process holds the database past the busy timeout.
  case busy(path: String, reason: String)
  /// The disk (or the file's quota) is full.
  case full(path: String, reason: String)
  /// Anything else SQLite reported.
  case failed(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let path, let reason): "\(path): cannot open the ledger: \(reason)"
    case .notALedger(let path, let reason):
      "\(path): is not a usagectx ledger (\(reason)); move it away or pass another --state directory"
    case .damaged(let path, let reason):
      "\(path): the ledger is damaged (quick_check: \(reason)); it was left untouched: move it away (or restore a "
        + "backup) or pass another --state directory"
    case .newerSchema(let path, let version, let known):
      "\(path): ledger schema version \(version) is newer than this usagectx knows (\(known)); use a newer usagectx"
    case .busy(let path, let reason): "\(path): the ledger is locked by another process: \(reason)"
    case .full(let path, let reason): "\(path): the disk is full: \(reason)"
    case .failed(let path, let reason): "\(path): \(reason)"
    }
  }
}
