// History: the ledger's changes summed per metric and per UTC day, UTC month or model, behind `usage/history` and
// `usagectx report` (the params and result are documented in protocol/usagectx.openrpc.json).

import UsageCore

/// How ``LedgerStore/history(metric:since:until:groupBy:)`` groups the changes of a metric.
public enum HistoryGrouping: String, Sendable, CaseIterable {
  /// By UTC calendar day: groups are `YYYY-MM-DD`.
  case day
  /// By UTC calendar month: groups are `YYYY-MM`.
  case month
  /// By the change's label (the model, for tokens); `nil` for changes recorded without one.
  case model
}

/// One group of one metric's changes.
public struct HistoryRow: Sendable, Equatable {
  public var metric: String
  /// `2026-11-22` (by day), `2026-11` (by month) or the model (by model; `nil` for changes without a label). Years
  /// outside 0…9999 are written with a sign and at least four digits (`+10000-01-01`, `-0001-12-31`).
  public var group: String?
  /// The sum of the changes' deltas (usage; resets are not in it).
  public var total: Int64
  /// How many changes were summed.
  public var changes: Int64
  /// How much resets of the metric took back in the group (0 when there was none).
  public var reset: Int64

  public init(metric: String, group: String?, total: Int64, changes: Int64, reset: Int64 = 0) {
    self.metric = metric
    self.group = group
    self.total = total
    self.changes = changes
    self.reset = reset
  }
}

extension LedgerStore {
  /// The changes applied in `since..<until` (milliseconds since the Unix epoch; `nil` leaves that end open), summed
  /// per metric and per group.
  ///
  /// - Parameter metric: only this metric; `nil` for every metric.
  /// - Returns: rows ordered by metric (by UTF-8 bytes), then by group: days and months in time order, models by their
  ///   UTF-8 bytes with the changes without a label last. Groups without changes have no row.
  /// - Throws: ``LedgerError`` naming the file, for example `.failed` when a total does not fit in 64 bits.
  ///
  /// Both queries read the `(metric, day)` index: the bounds are also given in whole days, so a metric and a range
  /// of days are a range of that index, and grouping by day reads it in order without sorting.
  public func history(
    metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping
  ) throws(LedgerError) -> [HistoryRow] {
    // Inclusive bounds in milliseconds and in days.
    let first = since ?? .min
    guard until != .min else { return [] }
    let last = until.map { $0 - 1 } ?? .max
    guard first <= last else { return [] }
    let firstDay = first.floorDivided(by: Self.millisecondsPerDay)
    let lastDay = last.floorDivided(by: Self.millisecondsPerDay)

    let filter = (metric == nil ? "" : "metric = ? AND ") + "day BETWEEN ? AND ? AND at_ms BETWEEN ? AND ?"
    var parameters: [SQLiteValue] = metric.map { [.text($0)] } ?? []
    parameters += [.integer(firstDay), .integer(lastDay), .integer(first), .integer(last)]

    switch grouping {
    case .model:
      let statement = try connection.prepare(
        """
        SELECT metric, label, SUM(CASE WHEN kind = 0 THEN delta ELSE 0 END), SUM(CASE WHEN kind = 0 THEN count ELSE 0 END), SUM(CASE WHEN kind = 1 THEN -delta ELSE 0 END)
        FROM changes WHERE \(filter)
        GROUP BY metric, label ORDER BY metric, label IS NULL, label
        """)
      try statement.bind(parameters)
      var rows: [HistoryRow] = []
      while try statement.step() {
        rows.append(
          HistoryRow(
            metric: statement.text(0) ?? "", group: statement.isNull(1) ? nil : statement.text(1),
            total: statement.int64(2), changes: statement.int64(3), reset: statement.int64(4)))
      }
      return rows
    case .day, .month:
      let statement = try connection.prepare(
        """
        SELECT metric, day, SUM(CASE WHEN kind = 0 THEN delta ELSE 0 END), SUM(CASE WHEN kind = 0 THEN count ELSE 0 END), SUM(CASE WHEN kind = 1 THEN -delta ELSE 0 END)
        FROM changes WHERE \(filter)
        GROUP BY metric, day ORDER BY metric, day
        """)
      try statement.bind(parameters)
      var rows: [HistoryRow] = []
      while try statement.step() {
        let date = CivilDate(daysSinceEpoch: Int(statement.int64(1)))
        let row = HistoryRow(
          metric: statement.text(0) ?? "", group: grouping == .day ? date.iso8601 : date.iso8601Month,
          total: statement.int64(2), changes: statement.int64(3), reset: statement.int64(4))
        // Days come in order, so the days of one month of one metric are neighbours.
        if grouping == .month, let previous = rows.last, previous.metric == row.metric, previous.group == row.group {
          let (total, overflow) = previous.total.addingReportingOverflow(row.total)
          guard !overflow else { throw .failed(path: path, reason: "integer overflow") }
          rows[rows.count - 1].total = total
          rows[rows.count - 1].changes += row.changes
          rows[rows.count - 1].reset &+= row.reset
        } else {
          rows.append(row)
        }
      }
      return rows
    }
  }

  static var millisecondsPerDay: Int64 { 86_400_000 }
}
