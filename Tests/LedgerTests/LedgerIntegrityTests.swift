import Foundation
import Ledger
import TestSupport
import Testing
import UsageCore

/// What opening the ledger checks before it writes: damage anywhere in the file refuses it untouched, and the files it
/// creates are the user's alone.
@Suite("Ledger integrity")
struct LedgerIntegrityTests {
  /// A ledger of a few hundred changes in a fresh directory, closed; returns its path.
  static func ledger(changes: Int = 300) throws -> String {
    let directory = try LedgerStoreTests.directory()
    let store = try LedgerStore(directory: directory)
    try store.append(
      // Each with a key, so each has a row of its own in the change log.
      (0..<changes).map {
        LedgerChange(metric: "documents", delta: 1, at: 1_780_000_000_000 + Int64($0), key: "k\($0)")
      })
    return store.path
  }

  static func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

  static func mode(_ path: String) throws -> Int? {
    try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
  }

  @Test(
    "a ledger damaged in the middle of a page is refused as damaged, named, quoting quick_check, its bytes unchanged")
  func damagedPage() throws {
    let path = try Self.ledger()
    let damage = try LedgerDamage.damage(path)
    try #require(damage.quickCheck != "ok")
    let before = try Self.bytes(path)
    #expect {
      _ = try LedgerStore(directory: (path as NSString).deletingLastPathComponent)
    } throws: { error in
      guard case .damaged(let named, let reason) = error as? LedgerError else { return false }
      let text = "\(error)"
      return named == path && reason.contains("page \(damage.page)") && text.hasPrefix(path + ": ")
        && text.contains("damaged") && text.contains("left untouched")
    }
    #expect(try Self.bytes(path) == before)
  }

  @Test("a damaged ledger whose log still holds a crashed session's commits is not checkpointed into when refused")
  func damagedWithLog() throws {
    let path = try Self.ledger()
    let directory = (path as NSString).deletingLastPathComponent
    // A session that committed and then died: its commit is in the -wal file only.
    let crashed = try LedgerStoreTests.directory()
    try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
    do {
      let store = try LedgerStore(directory: directory)
      try store.append([LedgerChange(metric: "documents", delta: 1, at: 1_780_000_100_000)])
      for suffix in ["", "-wal"] {
        try FileManager.default.copyItem(atPath: path + suffix, toPath: crashed + "/usage.sqlite3" + suffix)
      }
    }
    let copy = crashed + "/usage.sqlite3"
    try #require(try Self.bytes(copy + "-wal").count > 0)
    try #require(try LedgerDamage.damage(copy).quickCheck != "ok")
    let before = try Self.bytes(copy)
    #expect {
      _ = try LedgerStore(directory: crashed)
    } throws: { error in
      guard case .damaged = error as? LedgerError else { return false }
      return true
    }
    #expect(try Self.bytes(copy) == before)
  }

  @Test("an empty file at the ledger's path becomes a new ledger")
  func emptyFile() throws {
    let directory = try LedgerStoreTests.directory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    #expect(FileManager.default.createFile(atPath: directory + "/usage.sqlite3", contents: nil))
    let store = try LedgerStore(directory: directory)
    #expect(store.schemaVersion == LedgerStore.latestSchemaVersion)
  }

  @Test("a new ledger's file, and its -wal and -shm files while it is open, are mode 0600")
  func privateFiles() throws {
    let store = try LedgerStore(directory: try LedgerStoreTests.directory())
    try store.append([LedgerChange(metric: "documents", delta: 1, at: 1_780_000_000_000)])
    for suffix in ["", "-wal", "-shm"] {
      #expect(try Self.mode(store.path + suffix) == 0o600, "usage.sqlite3\(suffix)")
    }
  }

  @Test("an existing ledger file keeps its mode")
  func existingMode() throws {
    let directory = try LedgerStoreTests.directory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/usage.sqlite3"
    #expect(FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]))
    _ = try LedgerStore(directory: directory)
    #expect(try Self.mode(path) == 0o640)
  }
}

/// The whole-file check is kept off the start of a session that follows a clean one: a clean close marks the file,
/// and any change to the file since (damage included) brings the check back.
@Suite("Ledger integrity mark")
struct LedgerIntegrityMarkTests {
  @Test("after a clean close the next open skips quick_check; after a change to the file it checks, and refuses damage")
  func markAfterCleanClose() throws {
    let directory = try LedgerStoreTests.directory()
    do {
      let ledger = try DurableLedger(store: try LedgerStore(directory: directory))
      for batch in 0..<3 {
        for change in 0..<100 {
          ledger.record(
            RecordedChange(
              metric: "documents", delta: 1, at: Timestamp(milliseconds: 1_780_000_000_000), key: "k\(batch)-\(change)")
          )
        }
        try ledger.commit()
      }
      ledger.closeCleanly()
    }
    let path = directory + "/usage.sqlite3"
    #expect(FileManager.default.fileExists(atPath: path + "-checked"))
    do {
      let again = try LedgerStore(directory: directory)
      #expect(!again.checkedAtOpen)
      #expect(try again.total(metric: "documents", since: nil) == 300)
    }
    // A session that ended without a clean close (killed) may have changed the file: the next open checks it.
    do {
      let killed = try DurableLedger(store: try LedgerStore(directory: directory))
      killed.record(
        RecordedChange(metric: "documents", delta: 1, at: Timestamp(milliseconds: 1_780_000_000_000), key: "late"))
      try killed.commit()
    }
    let reopened = try LedgerStore(directory: directory)
    #expect(reopened.checkedAtOpen)
    _ = consume reopened
    let damage = try LedgerDamage.damage(path)
    try #require(damage.quickCheck != "ok")
    #expect(throws: LedgerError.self) { _ = try LedgerStore(directory: directory) }
  }
}
