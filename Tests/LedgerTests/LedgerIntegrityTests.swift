import Foundation
import Ledger
import TestSupport
import Testing

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
