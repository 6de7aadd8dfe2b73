import Foundation
import Ledger
import Testing
import TestSupport
import UsageCore

/// The durable ledger: changes count at once, are written by a group commit, survive a restart, and a failed commit
/// takes them back.
@Suite("Durable ledger")
struct DurableLedgerTests {
  static let day: Int64 = 86_400_000
  static let start = Timestamp(milliseconds: 20_400 * day + 3_600_000)

  @Test("changes count at once, are written in one commit, and are there after reopening")
  func commitAndReopen() throws {
    let directory = try LedgerStoreTests.directory()
    do {
      let ledger = try DurableLedger(store: try LedgerStore(directory: directory))
      ledger.record(metric: "requests", delta: 2, at: Self.start, key: "k1", label: nil, detail: nil)
      ledger.record(metric: "requests", delta: 3, at: Self.start.adding(milliseconds: Self.day), key: nil, label: nil, detail: nil)
      ledger.record(metric: "tokens", delta: 900, at: Self.start, key: nil, label: "gpt-4o", detail: nil)
      #expect(ledger.total(metric: "requests", since: nil) == 5)
      #expect(ledger.hasPending)
      #expect(try ledger.commit() == 3)
      #expect(!ledger.hasPending)
      #expect(try ledger.commit() == 0)
      // Not committed: gone with the process.
      ledger.record(metric: "requests", delta: 100, at: Self.start, key: nil, label: nil, detail: nil)
    }
    let reopened = try DurableLedger(store: try LedgerStore(directory: directory))
    #expect(reopened.total(metric: "requests", since: nil) == 5)
    #expect(reopened.total(metric: "requests", since: Self.start.adding(milliseconds: Self.day)) == 3)
    #expect(reopened.total(metric: "tokens", since: Self.start) == 900)
  }

  @Test("a commit that fails takes its changes back out of the totals; the next one still works")
  func failedCommit() throws {
    let directory = try LedgerStoreTests.directory()
    let ledger = try DurableLedger(store: try LedgerStore(directory: directory, busyTimeout: 50))
    ledger.record(metric: "requests", delta: 1, at: Self.start, key: nil, label: nil, detail: nil)
    try ledger.commit()
    let lock = try DatabaseLock(path: directory + "/usage.sqlite3")
    ledger.record(metric: "requests", delta: 4, at: Self.start, key: nil, label: nil, detail: nil)
    #expect(ledger.total(metric: "requests", since: nil) == 5)
    #expect(throws: LedgerError.self) { try ledger.commit() }
    #expect(ledger.total(metric: "requests", since: nil) == 1)
    lock.release()
    ledger.record(metric: "requests", delta: 2, at: Self.start, key: nil, label: nil, detail: nil)
    #expect(try ledger.commit() == 1)
    #expect(try DurableLedger(store: try LedgerStore(directory: directory)).total(metric: "requests", since: nil) == 3)
  }
}
