import Foundation
import Ledger
import Testing
import TestSupport
import UsageCore

/// The durable ledger: changes count at once and are written by one commit per batch; a transaction decides against
/// what every process committed; a failed commit takes its changes back; opening reads counters, never the history.
@Suite("Durable ledger")
struct DurableLedgerTests {
  static let day: Int64 = 86_400_000
  static let start = Timestamp(milliseconds: 20_400 * day + 3_600_000)

  /// A clock standing at `start`.
  struct FixedClock: WallClock {
    var time = DurableLedgerTests.start
    func now() -> Timestamp { time }
  }

  static func open(_ directory: String, busyTimeout: Int32 = 5_000) throws -> DurableLedger {
    try DurableLedger(store: try LedgerStore(directory: directory, busyTimeout: busyTimeout), clock: FixedClock())
  }

  @Test("changes count at once, are written in one commit, and are there after reopening")
  func commitAndReopen() throws {
    let directory = try LedgerStoreTests.directory()
    do {
      let ledger = try Self.open(directory)
      ledger.record(RecordedChange(metric: "requests", delta: 2, at: Self.start, key: "k1"))
      ledger.record(metric: "requests", delta: 3, at: Self.start.adding(milliseconds: Self.day))
      ledger.record(RecordedChange(metric: "tokens", delta: 900, at: Self.start, label: "gpt-4o"))
      #expect(ledger.total(metric: "requests", since: nil) == 5)
      #expect(ledger.hasPending)
      try ledger.commit()
      #expect(!ledger.hasPending)
      try ledger.commit()
      // Not committed: gone with the process.
      ledger.record(metric: "requests", delta: 100, at: Self.start)
    }
    let reopened = try Self.open(directory)
    #expect(reopened.total(metric: "requests", since: nil) == 5)
    #expect(reopened.total(metric: "requests", since: Self.start.adding(milliseconds: Self.day)) == 3)
    #expect(reopened.total(metric: "tokens", since: Self.start) == 900)
  }

  @Test("a commit that fails takes its changes back out of the totals; the next one still works")
  func failedCommit() throws {
    let directory = try LedgerStoreTests.directory()
    let ledger = try Self.open(directory, busyTimeout: 50)
    ledger.record(metric: "requests", delta: 1, at: Self.start)
    try ledger.commit()
    let lock = try DatabaseLock(path: directory + "/usage.sqlite3")
    ledger.record(metric: "requests", delta: 4, at: Self.start)
    #expect(ledger.total(metric: "requests", since: nil) == 5)
    #expect(throws: CommitError.self) { try ledger.commit() }
    #expect(ledger.total(metric: "requests", since: nil) == 1)
    #expect(throws: CommitError.self) { try ledger.begin(touching: ["requests"]) }
    lock.release()
    ledger.record(metric: "requests", delta: 2, at: Self.start)
    try ledger.commit()
    #expect(try Self.open(directory).total(metric: "requests", since: nil) == 3)
  }

  @Test("a transaction decides against what another process committed, and keys are shared")
  func transactionSeesOthers() throws {
    let directory = try LedgerStoreTests.directory()
    let first = try Self.open(directory)
    let second = try Self.open(directory)
    try first.begin(touching: ["requests"])
    first.record(metric: "requests", delta: 7, at: Self.start)
    first.keep(KeptAnswer(key: "k", fingerprint: "f", answer: Array("{}".utf8), at: Self.start.milliseconds))
    try first.commit()
    // Outside a transaction, the committed total is read again when another process committed.
    #expect(second.committed(metric: "requests", since: nil, at: Self.start).total == 7)
    try second.begin(touching: ["requests"])
    #expect(second.committed(metric: "requests", since: nil, at: Self.start).total == 7)
    #expect(try second.keptAnswer("k")?.fingerprint == "f")
    second.record(metric: "requests", delta: 1, at: Self.start)
    try second.commit()
    try first.begin(touching: ["requests"])
    #expect(first.total(metric: "requests", since: nil) == 8)
    try first.commit()
    // The metrics another process moved are told once, whichever look found them.
    #expect(try first.absorbOthers() == ["requests"])
    #expect(try first.absorbOthers().isEmpty)
  }

  @Test("totals that would pass the 64-bit range are never stored")
  func range() throws {
    let directory = try LedgerStoreTests.directory()
    let ledger = try Self.open(directory)
    ledger.record(metric: "documents", delta: .max - 1, at: Self.start)
    try ledger.commit()
    let committed = ledger.committed(metric: "documents", since: nil, at: Self.start)
    #expect(committed.admits(1))
    #expect(!committed.admits(2))
    #expect(try Self.open(directory).total(metric: "documents", since: nil) == .max - 1)
  }

  @Test("opening reads counters, a bounded number of rows whatever the history holds")
  func boundedOpen() throws {
    let directory = try LedgerStoreTests.directory()
    do {
      let ledger = try Self.open(directory)
      // A year of changes: 400 days, 3 models, keyed changes (a row of the log each).
      for day in 0..<400 {
        for change in 0..<30 {
          ledger.record(
            RecordedChange(
              metric: "tokens", delta: 10, at: Self.start.adding(milliseconds: -Int64(day) * Self.day),
              key: "key-\(day)-\(change)", label: "model-\(change % 3)"))
        }
        try ledger.commit()
      }
    }
    let reopened = try Self.open(directory)
    #expect(reopened.total(metric: "tokens", since: nil) == 400 * 30 * 10)
    // One look-up for the metric, its all-time rows (3 labels) and the last 32 days' (3 labels each), however many
    // changes were recorded.
    #expect(reopened.rowsReadAtOpen <= 1 + 3 * (1 + 33))
  }
}

/// The change log's retention: individual changes older than 90 days are rolled up into one row per day, metric,
/// label and kind, and history reads the same totals.
@Suite("Change log retention")
struct RetentionTests {
  @Test("rolling up days past the retention keeps history by day, month and model exact, with fewer rows")
  func rollUp() throws {
    let directory = try LedgerStoreTests.directory()
    let store = try LedgerStore(directory: directory)
    let day: Int64 = 86_400_000
    let now = 20_500 * day
    var changes: [LedgerChange] = []
    for offset in 0..<120 {
      for change in 0..<5 {
        changes.append(
          LedgerChange(
            metric: "tokens", delta: Int64(change + 1), at: now - Int64(offset) * day + Int64(change) * 1_000,
            key: "k-\(offset)-\(change)", label: change % 2 == 0 ? "gpt-4o" : "claude",
            detail: ChangeDetail(fields: [Int64(change), 1], cost: 0.5, priced: true, events: 1)))
      }
      changes.append(LedgerChange(metric: "requests", delta: 1, at: now - Int64(offset) * day, key: "r-\(offset)"))
    }
    changes.append(LedgerChange(metric: "requests", delta: -3, at: now - 100 * day + 5, kind: .reset))
    try store.append(changes)
    let groupings = HistoryGrouping.allCases
    let before = try groupings.map { try store.history(metric: nil, since: nil, until: nil, groupBy: $0) }
    let rowsBefore = try store.changeRows()
    var rolled = 0
    while try store.rollUpOldestDay(before: now - 90 * day) != nil { rolled += 1 }
    // Days 91 to 119 back lie wholly before the cutoff; day 90 back does not.
    #expect(rolled == 29)
    let after = try groupings.map { try store.history(metric: nil, since: nil, until: nil, groupBy: $0) }
    #expect(after == before)
    // 29 days of 6 keyed changes (and one reset) became 29 days of 3 rows (2 models and requests) plus the reset.
    #expect(try store.changeRows() == rowsBefore - 29 * 6 - 1 + 29 * 3 + 1)
    // The running totals are not touched.
    #expect(try store.total(metric: "requests", since: nil) == 117)
  }
}
