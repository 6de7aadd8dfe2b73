import Ledger
import Synchronization
public import UsageCore

/// The breakdown of the account's usage (per model: amount, fields, cost, events) summed over every device from
/// the counters, plus the changes of this device not delivered yet; this device's alone while PostgreSQL is away.
extension SharedLedger {
  public func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal] {
    let fromDay = start.map(RunningTotals.day) ?? 0
    let shared: [BreakdownTotal]
    do throws(PostgresError) {
      shared = try withConnection { (connection: PostgresConnection, account: Int64) throws(PostgresError) in
        try Self.breakdown(connection, account: account, metric: metric, fromDay: fromDay)
      }
    } catch {
      return local.breakdown(metric: metric, since: start)
    }
    let waiting = state.withLock { state in
      state.undelivered.filter { $0.metric == metric && RunningTotals.day($0.at) >= fromDay }
    }
    return waiting.reduce(into: shared) { totals, change in
      let detail = change.detail ?? ChangeDetail(events: 0)
      let position =
        totals.firstIndex { $0.label == change.label }
        ?? {
          totals.append(
            BreakdownTotal(label: change.label, amount: 0, fields: [0, 0, 0, 0], cost: 0, priced: true, events: 0))
          return totals.count - 1
        }()
      totals[position].amount &+= change.delta
      for (index, value) in detail.fields.prefix(4).enumerated() { totals[position].fields[index] &+= value }
      totals[position].cost += detail.cost
      totals[position].priced = totals[position].priced && detail.priced
      totals[position].events &+= detail.events
    }
  }

  /// The counters of `metric` from `fromDay` summed per label; the changes without one are what the total has beyond
  /// the labelled ones.
  static func breakdown(
    _ connection: PostgresConnection, account: Int64, metric: String, fromDay: Int64
  ) throws(PostgresError) -> [BreakdownTotal] {
    let results = try connection.run(
      """
      SELECT label, sum(used), sum(f1), sum(f2), sum(f3), sum(f4), sum(cost), sum(unpriced), sum(events)
      FROM usagectx.counters WHERE account = \(account) AND metric = \(connection.literal(metric))
        AND day >= \(max(0, fromDay))
      GROUP BY label ORDER BY label
      """)
    var total: BreakdownTotal?
    var labelled: [BreakdownTotal] = []
    // Changes that could not be priced: the total's beyond the labelled ones' are the unlabelled changes'.
    var unpriced: Int64 = 0
    for row in results.last?.rows ?? [] {
      func int(_ column: Int) -> Int64 { row[column].flatMap { Int64($0) } ?? 0 }
      let entry = BreakdownTotal(
        label: row[0], amount: int(1), fields: (2..<6).map(int), cost: row[6].flatMap { Double($0) } ?? 0,
        priced: int(7) == 0, events: int(8))
      if entry.label == "" {
        total = entry
        unpriced &+= int(7)
      } else {
        labelled.append(entry)
        unpriced &-= int(7)
      }
    }
    guard var rest = total else { return labelled }
    rest.priced = unpriced == 0
    for entry in labelled {
      rest.amount &-= entry.amount
      for index in rest.fields.indices { rest.fields[index] &-= entry.fields[index] }
      rest.cost -= entry.cost
      rest.events &-= entry.events
    }
    rest.label = nil
    let unlabelled = rest.amount != 0 || rest.fields.contains { $0 != 0 } || rest.events != 0
    return labelled + (unlabelled ? [rest] : [])
  }
}
