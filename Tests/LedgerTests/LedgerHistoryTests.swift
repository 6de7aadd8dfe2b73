import Foundation
import Ledger
import Testing

/// The ledger's history: changes summed per metric and per UTC day, UTC month or model, between two moments.
@Suite("Ledger history")
struct LedgerHistoryTests {
  /// Milliseconds since the epoch of an ISO 8601 UTC moment (`2026-01-31T23:59:59.999Z`).
  static func ms(_ text: String) -> Int64 {
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions =
      text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
    guard let date = formatter.date(from: text) else { fatalError("bad moment \(text)") }
    return Int64((date.timeIntervalSince1970 * 1000).rounded())
  }

  /// A new ledger in a fresh directory holding `changes`.
  static func store(_ changes: [LedgerChange] = []) throws -> LedgerStore {
    let store = try LedgerStore(directory: try LedgerStoreTests.directory())
    try store.append(changes)
    return store
  }

  /// Changes on both sides of a year, a month and a day boundary, in two metrics, some of them refunds.
  static let boundaries: [LedgerChange] = [
    LedgerChange(metric: "requests", delta: 1, at: ms("2025-12-31T23:59:59.999Z")),
    LedgerChange(metric: "requests", delta: 1, at: ms("2026-01-01T00:00:00Z")),
    LedgerChange(metric: "requests", delta: 5, at: ms("2026-01-31T23:59:59.999Z")),
    LedgerChange(metric: "requests", delta: 7, at: ms("2026-02-01T00:00:00Z")),
    LedgerChange(metric: "requests", delta: -2, at: ms("2026-02-01T12:00:00Z"), key: "refund"),
    LedgerChange(metric: "tokens", delta: 1200, at: ms("2026-01-31T23:59:59.999Z"), label: "gpt-4o"),
    LedgerChange(metric: "tokens", delta: 300, at: ms("2026-02-01T00:00:00Z"), label: "claude"),
  ]

  @Test("by day: a change at 23:59:59.999 and one at midnight fall on two UTC days; rows by metric, then day")
  func byDay() throws {
    let store = try Self.store(Self.boundaries)
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .day) == [
        HistoryRow(metric: "requests", group: "2025-12-31", total: 1, changes: 1),
        HistoryRow(metric: "requests", group: "2026-01-01", total: 1, changes: 1),
        HistoryRow(metric: "requests", group: "2026-01-31", total: 5, changes: 1),
        HistoryRow(metric: "requests", group: "2026-02-01", total: 5, changes: 2),
        HistoryRow(metric: "tokens", group: "2026-01-31", total: 1200, changes: 1),
        HistoryRow(metric: "tokens", group: "2026-02-01", total: 300, changes: 1),
      ])
  }

  @Test("by month: the last millisecond of January counts in January, midnight of February 1 in February")
  func byMonth() throws {
    let store = try Self.store(Self.boundaries)
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .month) == [
        HistoryRow(metric: "requests", group: "2025-12", total: 1, changes: 1),
        HistoryRow(metric: "requests", group: "2026-01", total: 6, changes: 2),
        HistoryRow(metric: "requests", group: "2026-02", total: 5, changes: 2),
        HistoryRow(metric: "tokens", group: "2026-01", total: 1200, changes: 1),
        HistoryRow(metric: "tokens", group: "2026-02", total: 300, changes: 1),
      ])
  }

  @Test("by model: one row per label, ordered by bytes, the changes without a label last as nil")
  func byModel() throws {
    let store = try Self.store([
      LedgerChange(metric: "tokens", delta: 100, at: 0, label: "gpt-4o"),
      LedgerChange(metric: "tokens", delta: 50, at: Self.ms("2026-03-01T10:00:00Z"), label: "gpt-4o"),
      LedgerChange(metric: "tokens", delta: 10, at: 5, label: "Claude"),
      LedgerChange(metric: "tokens", delta: 7, at: 6),
      LedgerChange(metric: "tokens", delta: 40, at: 7, label: "claude"),
      LedgerChange(metric: "tokens", delta: -40, at: 8, label: "claude"),
      LedgerChange(metric: "documents", delta: 3, at: 9),
    ])
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .model) == [
        HistoryRow(metric: "documents", group: nil, total: 3, changes: 1),
        HistoryRow(metric: "tokens", group: "Claude", total: 10, changes: 1),
        HistoryRow(metric: "tokens", group: "claude", total: 0, changes: 2),
        HistoryRow(metric: "tokens", group: "gpt-4o", total: 150, changes: 2),
        HistoryRow(metric: "tokens", group: nil, total: 7, changes: 1),
      ])
  }

  @Test("since is inclusive and until exclusive, to the millisecond, also inside a day")
  func bounds() throws {
    let store = try Self.store(Self.boundaries)
    let february = Self.ms("2026-02-01T00:00:00Z")
    #expect(
      try store.history(metric: "requests", since: february, until: nil, groupBy: .day) == [
        HistoryRow(metric: "requests", group: "2026-02-01", total: 5, changes: 2)
      ])
    #expect(
      try store.history(metric: "requests", since: nil, until: february, groupBy: .month) == [
        HistoryRow(metric: "requests", group: "2025-12", total: 1, changes: 1),
        HistoryRow(metric: "requests", group: "2026-01", total: 6, changes: 2),
      ])
    #expect(
      try store.history(metric: "requests", since: february - 1, until: february + 1, groupBy: .day) == [
        HistoryRow(metric: "requests", group: "2026-01-31", total: 5, changes: 1),
        HistoryRow(metric: "requests", group: "2026-02-01", total: 7, changes: 1),
      ])
    // Inside one day: only the refund at noon.
    #expect(
      try store.history(metric: "requests", since: february + 1, until: Self.ms("2026-02-02T00:00:00Z"), groupBy: .day)
        == [HistoryRow(metric: "requests", group: "2026-02-01", total: -2, changes: 1)])
    #expect(
      try store.history(metric: nil, since: february + 1, until: february + 12 * 3_600_000, groupBy: .model) == [])
    // An empty or reversed range, and the ends of the range of moments.
    #expect(try store.history(metric: nil, since: february, until: february, groupBy: .day) == [])
    #expect(try store.history(metric: nil, since: february, until: february - 1, groupBy: .day) == [])
    #expect(try store.history(metric: nil, since: nil, until: .min, groupBy: .day) == [])
    #expect(try store.history(metric: nil, since: .min, until: .max, groupBy: .day).count == 6)
  }

  @Test("negative deltas: refunds subtract, a group can total zero or less and still has its row")
  func negativeDeltas() throws {
    let day = Self.ms("2026-11-22T08:00:00Z")
    let store = try Self.store([
      LedgerChange(metric: "requests", delta: 2, at: day),
      LedgerChange(metric: "requests", delta: -2, at: day + 1),
      LedgerChange(metric: "requests", delta: -3, at: day + 86_400_000),
    ])
    #expect(
      try store.history(metric: "requests", since: nil, until: nil, groupBy: .day) == [
        HistoryRow(metric: "requests", group: "2026-11-22", total: 0, changes: 2),
        HistoryRow(metric: "requests", group: "2026-11-23", total: -3, changes: 1),
      ])
    #expect(
      try store.history(metric: "requests", since: nil, until: nil, groupBy: .month) == [
        HistoryRow(metric: "requests", group: "2026-11", total: -3, changes: 3)
      ])
  }

  @Test("an empty ledger has no rows in any grouping")
  func emptyLedger() throws {
    let store = try Self.store()
    for grouping in HistoryGrouping.allCases {
      #expect(try store.history(metric: nil, since: nil, until: nil, groupBy: grouping) == [])
      #expect(try store.history(metric: "requests", since: 0, until: 86_400_000, groupBy: grouping) == [])
    }
  }

  @Test("a metric filter keeps that metric's rows only; an unknown metric has none")
  func metricFilter() throws {
    let store = try Self.store(Self.boundaries)
    #expect(
      try store.history(metric: "tokens", since: nil, until: nil, groupBy: .model) == [
        HistoryRow(metric: "tokens", group: "claude", total: 300, changes: 1),
        HistoryRow(metric: "tokens", group: "gpt-4o", total: 1200, changes: 1),
      ])
    #expect(
      try store.history(metric: "requests", since: nil, until: nil, groupBy: .model) == [
        HistoryRow(metric: "requests", group: nil, total: 12, changes: 5)
      ])
    #expect(try store.history(metric: "documents", since: nil, until: nil, groupBy: .day) == [])
    #expect(try store.history(metric: "Tokens", since: nil, until: nil, groupBy: .month) == [])
  }

  @Test("days before 1970 and at the ends of the 64-bit range are dated in the proleptic Gregorian calendar")
  func farDates() throws {
    let store = try Self.store([
      LedgerChange(metric: "m", delta: 1, at: -1),
      LedgerChange(metric: "m", delta: 1, at: 0),
      // 0000-03-01T00:00:00Z is 719,468 days before the epoch (Foundation would count these days as Julian).
      LedgerChange(metric: "m", delta: 1, at: -719_468 * 86_400_000),
      LedgerChange(metric: "m", delta: 1, at: -719_468 * 86_400_000 - 1),
      LedgerChange(metric: "m", delta: 1, at: .min),
      LedgerChange(metric: "m", delta: 1, at: .max),
    ])
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .day).map(\.group) == [
        "-292275055-05-16", "0000-02-29", "0000-03-01", "1969-12-31", "1970-01-01", "+292278994-08-17",
      ])
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .month).map(\.group) == [
        "-292275055-05", "0000-02", "0000-03", "1969-12", "1970-01", "+292278994-08",
      ])
  }

  @Test("a total that does not fit in 64 bits is an error naming the ledger, by day and when days add up to a month")
  func overflow() throws {
    let store = try Self.store([
      LedgerChange(metric: "m", delta: .max, at: 0),
      LedgerChange(metric: "m", delta: .max, at: 86_400_000),
    ])
    #expect(try store.history(metric: nil, since: nil, until: nil, groupBy: .day).count == 2)
    for grouping in [HistoryGrouping.month, .model] {
      #expect {
        _ = try store.history(metric: "m", since: nil, until: nil, groupBy: grouping)
      } throws: { error in
        guard case .failed(let path, let reason) = error as? LedgerError else { return false }
        return path == store.path && reason.contains("overflow")
      }
    }
  }
}
