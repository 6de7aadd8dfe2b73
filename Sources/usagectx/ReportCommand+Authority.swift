import ArgumentParser
import Ledger
import Postgres
import UsageCore

/// `usagectx report --authority …`: the history of every device of an account, read from PostgreSQL.
extension ReportCommand {
  static func sharedRows(
    url: String, account: String, metric: String?, _ start: Timestamp?, _ end: Timestamp?, _ grouping: HistoryGrouping,
    labels: [String: String]
  ) throws -> [HistoryRow] {
    do {
      return try SharedLedger.history(
        url: url, account: account, metric: metric, since: start?.milliseconds, until: end?.milliseconds,
        groupBy: grouping, labels: labels)
    } catch {
      throw fail("\(error)")
    }
  }
}
