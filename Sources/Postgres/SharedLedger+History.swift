public import Ledger
import UsageCore

/// `usage/history` and `usagectx report` across every device of the account: the change log in PostgreSQL, summed
/// the way the local ledger sums its own (usage apart from resets, by UTC day, ISO week, month, model or any label,
/// only the changes made with some labels when asked).
extension SharedLedger {
  /// The account's changes summed by day, week, month, model or label, only those made with `labels` (`model` is
  /// the breakdown entry) when given; throws while PostgreSQL cannot be reached.
  public func history(
    metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping, labels: [String: String] = [:]
  ) throws(PostgresError) -> [HistoryRow] {
    try withConnection { (connection: PostgresConnection, account: Int64) throws(PostgresError) -> [HistoryRow] in
      try Self.history(
        connection: connection, account: account, metric: metric, since: since, until: until, groupBy: grouping,
        labels: labels)
    }
  }

  /// The history of the account named `account` at `url` (for `usagectx report --authority`, without a session).
  public static func history(
    url: String, account: String, metric: String?, since: Int64?, until: Int64?, groupBy grouping: HistoryGrouping,
    labels: [String: String] = [:]
  ) throws(PostgresError) -> [HistoryRow] {
    let connection = try PostgresConnection(url: url)
    let rows = try connection.run(
      "SELECT id FROM usagectx.accounts WHERE name = \(connection.literal(account))")
    guard let id = rows.last?.rows.first?[0].flatMap({ Int64($0) }) else {
      throw PostgresError("no account \(account) in this database")
    }
    return try history(
      connection: connection, account: id, metric: metric, since: since, until: until, groupBy: grouping, labels: labels
    )
  }

  static func history(
    connection: PostgresConnection, account: Int64, metric: String?, since: Int64?, until: Int64?,
    groupBy grouping: HistoryGrouping, labels: [String: String] = [:]
  ) throws(PostgresError) -> [HistoryRow] {
    var filter = "account = \(account)"
    if let metric { filter += " AND metric = \(connection.literal(metric))" }
    if let since { filter += " AND at >= \(since)" }
    if let until { filter += " AND at < \(until)" }
    // As in the local ledger: `model` is the breakdown entry (the `label` column), every other label is matched in
    // the change's labels (changes recorded before labels were kept have none, so they match no such filter).
    if let model = labels["model"] { filter += " AND label = \(connection.literal(OutboxCoding.storable(model)))" }
    var others = labels
    others["model"] = nil
    if !others.isEmpty {
      let wanted = Dictionary(
        others.map { (OutboxCoding.storable($0.key), OutboxCoding.storable($0.value)) }, uniquingKeysWith: { a, _ in a }
      )
      filter += " AND labels @> \(connection.literal(ChangeLabels.encode(wanted) ?? "{}"))::jsonb"
    }
    let group: String
    switch grouping {
    case .day: group = "to_char(to_timestamp(floor(at / 1000.0)) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    case .week: group = "to_char(to_timestamp(floor(at / 1000.0)) AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')"
    case .month: group = "to_char(to_timestamp(floor(at / 1000.0)) AT TIME ZONE 'UTC', 'YYYY-MM')"
    case .model: group = "label"
    case .label(let name): group = "labels->>\(connection.literal(OutboxCoding.storable(name)))"
    }
    // Groups in the local ledger's order: metrics, then labels, by their bytes (collation "C"), changes without the
    // label last; periods sort the same way as text.
    let results = try connection.run(
      """
      SELECT * FROM (
        SELECT metric, \(group) AS grp, coalesce(sum(delta) FILTER (WHERE kind = 0), 0),
          count(*) FILTER (WHERE kind = 0), coalesce(sum(-delta) FILTER (WHERE kind = 1), 0),
          coalesce(sum(fields[1]) FILTER (WHERE kind = 0), 0), coalesce(sum(fields[2]) FILTER (WHERE kind = 0), 0),
          coalesce(sum(fields[3]) FILTER (WHERE kind = 0), 0), coalesce(sum(fields[4]) FILTER (WHERE kind = 0), 0),
          coalesce(sum(cost) FILTER (WHERE kind = 0), 0)
        FROM usagectx.changes WHERE \(filter)
        GROUP BY 1, 2
      ) AS h ORDER BY metric COLLATE "C", grp COLLATE "C" NULLS LAST
      """)
    return (results.last?.rows ?? []).map { row in
      HistoryRow(
        metric: row[0] ?? "", group: row[1], total: row[2].flatMap { Int64($0) } ?? 0,
        changes: row[3].flatMap { Int64($0) } ?? 0, reset: row[4].flatMap { Int64($0) } ?? 0,
        fields: (5...8).map { row[$0].flatMap { Int64($0) } ?? 0 }, cost: row[9].flatMap { Double($0) } ?? 0)
    }
  }
}
