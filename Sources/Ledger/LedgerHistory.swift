// History: the ledger's changes summed per metric and per UTC day, ISO week, UTC month, model or any label, behind
// `usage/history` and `usagectx report` (the params and result are documented in protocol/usagectx.openrpc.json).

import UsageCore

/// How ``LedgerStore/history(metric:since:until:groupBy:labels:)`` groups the changes of a metric.
public enum HistoryGrouping: Sendable, Hashable {
  /// By UTC calendar day: groups are `YYYY-MM-DD`.
  case day
  /// By ISO 8601 week (Monday to Sunday, UTC): groups are `YYYY-Www` (`2026-W47`), the year the week's Thursday is in.
  case week
  /// By UTC calendar month: groups are `YYYY-MM`.
  case month
  /// By the change's breakdown entry (the model, for tokens); `nil` for changes recorded without one.
  case model
  /// By one of the labels the change was made with (`provider`, `conversation`, …); `nil` for changes without it.
  case label(String)

  /// `day`, `week`, `month`, `model`, or a label's name (1 to 64 characters).
  public init?(rawValue: String) {
    switch rawValue {
    case "day": self = .day
    case "week": self = .week
    case "month": self = .month
    case "model": self = .model
    default:
      guard !rawValue.isEmpty, rawValue.utf8.count <= 64 else { return nil }
      self = .label(rawValue)
    }
  }

  public var rawValue: String {
    switch self {
    case .day: "day"
    case .week: "week"
    case .month: "month"
    case .model: "model"
    case .label(let name): name
    }
  }

  /// The groupings by time, and by model and two labels.
  public static var allCases: [HistoryGrouping] {
    [.day, .week, .month, .model, .label("provider"), .label("conversation")]
  }

  /// Whether groups are periods of time (else labels).
  public var isByTime: Bool {
    switch self {
    case .day, .week, .month: true
    case .model, .label: false
    }
  }
}

/// One group of one metric's changes.
public struct HistoryRow: Sendable, Equatable {
  public var metric: String
  /// `2026-11-22` (by day), `2026-W47` (by week), `2026-11` (by month) or the model or label (`nil` for changes
  /// without one). Years outside 0…9999 are written with a sign and at least four digits (`+10000-01-01`,
  /// `-0001-12-31`).
  public var group: String?
  /// The sum of the changes' deltas (usage; resets are not in it).
  public var total: Int64
  /// How many changes were summed.
  public var changes: Int64
  /// How much resets of the metric took back in the group (0 when there was none).
  public var reset: Int64
  /// The sums of the changes' field values (``LedgerStore/keptFields`` of them, in the metric's field order).
  public var fields: [Int64]
  /// The sum of the changes' costs.
  public var cost: Double

  public init(
    metric: String, group: String?, total: Int64, changes: Int64, reset: Int64 = 0, fields: [Int64] = [0, 0, 0, 0],
    cost: Double = 0
  ) {
    self.metric = metric
    self.group = group
    self.total = total
    self.changes = changes
    self.reset = reset
    self.fields = fields
    self.cost = cost
  }
}

extension LedgerStore {
  /// The changes applied in `since..<until` (milliseconds since the Unix epoch; `nil` leaves that end open), summed
  /// per metric and per group.
  ///
  /// - Parameters:
  ///   - metric: only this metric; `nil` for every metric.
  ///   - labels: only changes made with these labels (`model` is the breakdown entry); empty for all.
  /// - Returns: rows ordered by metric (by UTF-8 bytes), then by group: periods in time order, models and labels by
  ///   their UTF-8 bytes with the changes without one last. Groups without changes have no row.
  /// - Throws: ``LedgerError`` naming the file, for example `.failed` when a total does not fit in 64 bits.
  ///
  /// Both queries read the `(metric, day)` index: the bounds are also given in whole days, so a metric and a range
  /// of days are a range of that index, and grouping by time reads it in order without sorting.
  public func history(
    metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping, labels: [String: String] = [:]
  ) throws(LedgerError) -> [HistoryRow] {
    // Inclusive bounds in milliseconds and in days.
    let first = since ?? .min
    guard until != .min else { return [] }
    let last = until.map { $0 - 1 } ?? .max
    guard first <= last else { return [] }
    let firstDay = first.floorDivided(by: Self.millisecondsPerDay)
    let lastDay = last.floorDivided(by: Self.millisecondsPerDay)

    var filter = (metric == nil ? "" : "metric = ? AND ") + "day BETWEEN ? AND ? AND at_ms BETWEEN ? AND ?"
    var parameters: [SQLiteValue] = metric.map { [.text($0)] } ?? []
    parameters += [.integer(firstDay), .integer(lastDay), .integer(first), .integer(last)]
    for name in labels.keys.sorted() {
      filter += name == "model" ? " AND label = ?" : " AND json_extract(labels, ?) = ?"
      if name != "model" { parameters.append(.text(ChangeLabels.path(name))) }
      parameters.append(.text(labels[name] ?? ""))
    }
    let sums = """
      SUM(CASE WHEN kind = 0 THEN delta ELSE 0 END), SUM(CASE WHEN kind = 0 THEN count ELSE 0 END),
      SUM(CASE WHEN kind = 1 THEN -delta ELSE 0 END), SUM(CASE WHEN kind = 0 THEN f0 ELSE 0 END),
      SUM(CASE WHEN kind = 0 THEN f1 ELSE 0 END), SUM(CASE WHEN kind = 0 THEN f2 ELSE 0 END),
      SUM(CASE WHEN kind = 0 THEN f3 ELSE 0 END), SUM(CASE WHEN kind = 0 THEN cost ELSE 0 END)
      """
    func row(_ statement: SQLiteStatement, group: String?) -> HistoryRow {
      HistoryRow(
        metric: statement.text(0) ?? "", group: group, total: statement.int64(2), changes: statement.int64(3),
        reset: statement.int64(4), fields: (5..<9).map { statement.int64($0) }, cost: statement.double(9))
    }

    switch grouping {
    case .model, .label:
      let key: String
      if case .label(let name) = grouping {
        key = "json_extract(labels, ?)"
        parameters.insert(.text(ChangeLabels.path(name)), at: 0)
      } else {
        key = "label"
      }
      let statement = try connection.prepare(
        """
        SELECT metric, \(key) AS grp, \(sums)
        FROM changes WHERE \(filter)
        GROUP BY metric, grp ORDER BY metric, grp IS NULL, grp
        """)
      try statement.bind(parameters)
      var rows: [HistoryRow] = []
      while try statement.step() {
        rows.append(row(statement, group: statement.isNull(1) ? nil : statement.text(1)))
      }
      return rows
    case .day, .week, .month:
      let statement = try connection.prepare(
        """
        SELECT metric, day, \(sums)
        FROM changes WHERE \(filter)
        GROUP BY metric, day ORDER BY metric, day
        """)
      try statement.bind(parameters)
      var rows: [HistoryRow] = []
      while try statement.step() {
        let days = statement.int64(1)
        let date = CivilDate(daysSinceEpoch: Int(days))
        let group =
          switch grouping {
          case .week: Self.isoWeek(ofDay: days)
          case .month: date.iso8601Month
          default: date.iso8601
          }
        let next = row(statement, group: group)
        // Days come in order, so the days of one week or month of one metric are neighbours.
        if grouping != .day, let previous = rows.last, previous.metric == next.metric, previous.group == next.group {
          let (total, overflow) = previous.total.addingReportingOverflow(next.total)
          guard !overflow else { throw .failed(path: path, reason: "integer overflow") }
          rows[rows.count - 1].total = total
          rows[rows.count - 1].changes += next.changes
          rows[rows.count - 1].reset &+= next.reset
          for position in next.fields.indices { rows[rows.count - 1].fields[position] &+= next.fields[position] }
          rows[rows.count - 1].cost += next.cost
        } else {
          rows.append(next)
        }
      }
      return rows
    }
  }

  /// The ISO 8601 week of a UTC day (days since the epoch): `2026-W47`; the year is that of the week's Thursday.
  public static func isoWeek(ofDay day: Int64) -> String {
    // 1970-01-01 was a Thursday: Monday is 0.
    let weekday = (day + 3).floorMod(7)
    let thursday = day - weekday + 3
    let date = CivilDate(daysSinceEpoch: Int(thursday))
    let firstOfYear = Int64(CivilDate.daysSinceEpoch(year: date.year, month: 1, day: 1))
    let week = (thursday - firstOfYear) / 7 + 1
    let year = date.iso8601Month.dropLast(3)
    return "\(year)-W" + (week < 10 ? "0" : "") + String(week)
  }

  static var millisecondsPerDay: Int64 { 86_400_000 }
}

extension Int64 {
  /// The remainder of a division rounded down (never negative for a positive divisor).
  fileprivate func floorMod(_ divisor: Int64) -> Int64 {
    let remainder = self % divisor
    return remainder < 0 ? remainder + divisor : remainder
  }
}
