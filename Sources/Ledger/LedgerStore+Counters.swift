public import UsageCore

/// Reading the running totals (`counters`) and the baselines of reset breakdown entries.
extension LedgerStore {
  /// The running total of `metric` from `since` (milliseconds, by whole UTC days; `nil` for all time), from the
  /// counters.
  public func total(metric: String, since: Int64?) throws(LedgerError) -> Int64 {
    let firstDay = since.map { $0.floorDivided(by: Self.millisecondsPerDay) }
    let statement = try connection.prepare(
      "SELECT amount FROM counters WHERE metric = ? AND \(firstDay == nil ? "day = ?" : "day >= ?")")
    try statement.bind([.text(metric), .integer(firstDay ?? Self.allTime)])
    var total: Int64 = 0
    while try statement.step() { total = try Self.add(total, statement.int64(0), path) }
    return total
  }

  /// The running totals of `metric` from the UTC day `fromDay` (`nil`: over all time) per label, labels in byte
  /// order (changes without one last).
  public func breakdown(metric: String, fromDay: Int64?) throws(LedgerError) -> [BreakdownTotal] {
    let statement = try connection.prepare(
      """
      SELECT label, SUM(amount), SUM(f0), SUM(f1), SUM(f2), SUM(f3), SUM(cost), MIN(priced), SUM(events)
      FROM counters WHERE metric = ? AND \(fromDay == nil ? "day = ?" : "day >= ?")
      GROUP BY label ORDER BY label = '', label
      """)
    try statement.bind([.text(metric), .integer(fromDay ?? Self.allTime)])
    var result: [BreakdownTotal] = []
    while try statement.step() {
      let label = statement.text(0) ?? ""
      result.append(
        BreakdownTotal(
          label: label.isEmpty ? nil : label, amount: statement.int64(1), fields: (2..<6).map { statement.int64($0) },
          cost: statement.double(6), priced: statement.int64(7) != 0, events: statement.int64(8)))
    }
    return result
  }

  /// The baselines of the breakdown entries of `metric` reset during the period from `fromDay` (`nil`: over all
  /// time): what each entry had used when it was reset.
  public func baselines(metric: String, fromDay: Int64?) throws(LedgerError) -> [BreakdownTotal] {
    let statement = try connection.prepare(
      "SELECT label, amount, f0, f1, f2, f3, cost, events FROM baselines WHERE metric = ? AND since_day = ?")
    try statement.bind([.text(metric), .integer(fromDay ?? Self.allTime)])
    var result: [BreakdownTotal] = []
    while try statement.step() {
      result.append(
        BreakdownTotal(
          label: statement.text(0), amount: statement.int64(1), fields: (2..<6).map { statement.int64($0) },
          cost: statement.double(6), priced: true, events: statement.int64(7)))
    }
    return result
  }

  /// The running totals per metric: over all time (`day` = ``allTime``) and per UTC day from `fromDay`, summed over
  /// labels; only `metrics` when given. Reads one row per metric, label and day of that range, never the change log.
  public func counterTotals(
    metrics: Set<String>? = nil, fromDay: Int64
  ) throws(LedgerError) -> [(metric: String, day: Int64, total: Int64)] {
    rowsRead = 0
    let allTime = try connection.prepare("SELECT amount FROM counters WHERE metric = ? AND day = ?")
    let days = try connection.prepare("SELECT day, amount FROM counters WHERE metric = ? AND day >= ?")
    var rows: [(metric: String, day: Int64, total: Int64)] = []
    let names: [String]
    if let metrics { names = metrics.sorted() } else { names = try counterMetrics() }
    for metric in names {
      var sums: [Int64: Int64] = [:]
      try allTime.bind([.text(metric), .integer(Self.allTime)])
      while try allTime.step() {
        rowsRead += 1
        sums[Self.allTime] = try Self.add(sums[Self.allTime] ?? 0, allTime.int64(0), path)
      }
      try days.bind([.text(metric), .integer(fromDay)])
      while try days.step() {
        rowsRead += 1
        sums[days.int64(0)] = try Self.add(sums[days.int64(0)] ?? 0, days.int64(1), path)
      }
      for (day, total) in sums { rows.append((metric, day, total)) }
    }
    return rows
  }

  /// The metrics that have running totals, found by stepping from one metric to the next through the counters'
  /// key (one look-up per metric, however many rows each holds).
  func counterMetrics() throws(LedgerError) -> [String] {
    let next = try connection.prepare("SELECT metric FROM counters WHERE metric > ? ORDER BY metric LIMIT 1")
    var metrics: [String] = []
    var last = ""
    while true {
      try next.bind([.text(last)])
      guard try next.step(), let metric = next.text(0) else { break }
      next.reset()
      rowsRead += 1
      metrics.append(metric)
      last = metric
    }
    return metrics
  }

  private static func add(_ first: Int64, _ second: Int64, _ path: String) throws(LedgerError) -> Int64 {
    let (sum, overflow) = first.addingReportingOverflow(second)
    guard !overflow else { throw .failed(path: path, reason: "a total passes the 64-bit range") }
    return sum
  }
}
