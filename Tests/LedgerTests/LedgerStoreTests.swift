import Foundation
import Ledger
import Testing
import TestSupport

/// The durable ledger's database: where it lives, how it is opened, what it refuses, and what it keeps.
@Suite("Ledger store")
struct LedgerStoreTests {
  /// A fresh directory under the temporary directory.
  static func directory() throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-ledger-\(UUID().uuidString)")
    return url.path
  }

  @Test("a new ledger is created with its directory, in WAL mode with synchronous=FULL, at the latest schema")
  func create() throws {
    let directory = try Self.directory() + "/nested/state"
    let store = try LedgerStore(directory: directory)
    #expect(store.path == directory + "/usage.sqlite3")
    #expect(FileManager.default.fileExists(atPath: store.path))
    #expect(store.journalMode == "wal")
    #expect(store.synchronous == 2)
    #expect(store.schemaVersion == LedgerStore.latestSchemaVersion)
    let mode = try FileManager.default.attributesOfItem(atPath: directory)[.posixPermissions] as? Int
    #expect(mode == 0o700)
  }

  @Test("appended changes survive closing and reopening, and totals count whole UTC days")
  func persistence() throws {
    let directory = try Self.directory()
    let day: Int64 = 86_400_000
    let monday = 20_000 * day
    do {
      let store = try LedgerStore(directory: directory)
      try store.append([
        LedgerChange(metric: "requests", delta: 3, at: monday + 10),
        LedgerChange(metric: "requests", delta: -1, at: monday + day - 1, key: "refund-1"),
        LedgerChange(metric: "tokens", delta: 1500, at: monday + day + 5, label: "gpt-4o"),
      ])
      try store.append([LedgerChange(metric: "requests", delta: 4, at: monday + day)])
    }
    let reopened = try LedgerStore(directory: directory)
    #expect(try reopened.total(metric: "requests", since: nil) == 6)
    #expect(try reopened.total(metric: "requests", since: monday + day + 3_600_000) == 4)
    #expect(try reopened.total(metric: "tokens", since: monday) == 1500)
    #expect(try reopened.total(metric: "documents", since: nil) == 0)
  }

  @Test("a file that is not SQLite is refused, named, and left as it was")
  func notSQLite() throws {
    let directory = try Self.directory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/usage.sqlite3"
    let garbage = Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    try garbage.write(to: URL(fileURLWithPath: path))
    #expect {
      _ = try LedgerStore(directory: directory)
    } throws: { error in
      guard case .notALedger(let named, _) = error as? LedgerError else { return false }
      return named == path && "\(error)".contains(path)
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == garbage)
  }

  @Test("another program's SQLite database is refused, not written to")
  func foreignDatabase() throws {
    let directory = try Self.directory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/usage.sqlite3"
    let sqlite = try SpawnedProcess(
      "python3",
      [
        "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table notes(x)'); c.commit()",
        path,
      ])
    #expect(try sqlite.wait().code == 0)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect {
      _ = try LedgerStore(directory: directory)
    } throws: { error in
      guard case .notALedger(let named, let reason) = error as? LedgerError else { return false }
      return named == path && reason.contains("other objects")
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
  }

  @Test("a ledger written by a newer usagectx is refused")
  func newerSchema() throws {
    let directory = try Self.directory()
    do { _ = try LedgerStore(directory: directory) }
    let path = directory + "/usage.sqlite3"
    let bump = try SpawnedProcess(
      "python3",
      [
        "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('pragma user_version = 99'); c.commit()",
        path,
      ])
    try bump.wait()
    #expect(throws: LedgerError.newerSchema(path: path, version: 99, known: LedgerStore.latestSchemaVersion)) {
      _ = try LedgerStore(directory: directory)
    }
  }

  @Test("a directory that cannot be created is an error naming the ledger's path")
  func unwritableDirectory() throws {
    let file = try Self.directory()
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    #expect {
      _ = try LedgerStore(directory: file + "/state")
    } throws: { error in
      guard case .cannotOpen(let path, _) = error as? LedgerError else { return false }
      return path == file + "/state/usage.sqlite3"
    }
  }

  @Test("the default state directory follows XDG_STATE_HOME, then HOME")
  func defaultDirectory() {
    #expect(LedgerStore.defaultDirectory(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/usagectx")
    #expect(
      LedgerStore.defaultDirectory(environment: ["XDG_STATE_HOME": "relative", "HOME": "/h"])
        == "/h/.local/state/usagectx")
    #expect(LedgerStore.defaultDirectory(environment: ["HOME": "/h"]) == "/h/.local/state/usagectx")
    #expect(LedgerStore.defaultDirectory(environment: [:]) == nil)
  }

  @Test("a write while another process holds the database past the busy timeout fails as busy, and commits nothing")
  func busy() throws {
    let directory = try Self.directory()
    let store = try LedgerStore(directory: directory, busyTimeout: 100)
    let lock = try DatabaseLock(path: store.path)
    #expect {
      try store.append([LedgerChange(metric: "requests", delta: 1, at: 0)])
    } throws: { error in
      guard case .busy(let path, _) = error as? LedgerError else { return false }
      return path == store.path
    }
    lock.release()
    #expect(try store.total(metric: "requests", since: nil) == 0)
    try store.append([LedgerChange(metric: "requests", delta: 1, at: 0)])
    #expect(try store.total(metric: "requests", since: nil) == 1)
  }
}
