import JSON
import JSONRPC
import Ledger
import Postgres
import UsageCore

/// `usage/history`: the durable ledger's changes of a metric (the account's, with a PostgreSQL authority), summed.
extension UsageService {
  /// Sums the changes per day, week, month, model or label, only those made with `labels` when given. The changes of
  /// this burst are committed first, so the answer includes them.
  func history(_ request: RequestContext, _ result: inout JSONWriter) throws(RPCError) {
    let params = try Params(request, allowed: ["metric", "since", "until", "groupBy", "labels"])
    let metric = try metricIndex(params)
    func moment(_ field: StaticString) throws(RPCError) -> Int64? {
      guard let text = try params.string(field) else { return nil }
      guard let timestamp = Timestamp(iso8601: text) else {
        throw RPCError.invalidParams(
          field: "\(field)", "must be an ISO 8601 date or time in UTC (2026-11-01, 2026-11-01T08:00:00Z)",
          value: .string(text))
      }
      return timestamp.milliseconds
    }
    let since = try moment("since")
    let until = try moment("until")
    let groupName = try params.string("groupBy") ?? "day"
    guard let grouping = HistoryGrouping(rawValue: groupName) else {
      throw RPCError.invalidParams(
        field: "groupBy", "must be one of day, week, month, model or a label's name", value: .string(groupName))
    }
    let labels = try params.labels()
    guard let ledger = durableLedger else {
      throw RPCError.invalidRequest("noLedger", detail: "no durable ledger in this session (started with --no-state)")
    }
    let rows: [HistoryRow]
    do throws(CommitError) {
      // With --ack memory, changes already answered may still wait for their commit.
      try ledger.commit()
    } catch {
      throw RPCError.internalError("\(error)")
    }
    if let shared = sharedLedger {
      // Every device's changes, with every label; the account's database must be reachable.
      do throws(PostgresError) {
        rows = try shared.history(
          metric: context.metricNames[metric], since: since, until: until, groupBy: grouping, labels: labels)
      } catch {
        throw RPCError.internalError("the account's history cannot be read: \(error)")
      }
    } else {
      do throws(LedgerError) {
        rows = try ledger.history(
          metric: context.metricNames[metric], since: since, until: until, groupBy: grouping, labels: labels)
      } catch {
        throw RPCError.internalError("\(error)")
      }
    }
    result.beginObject()
    result.key("groupBy"); result.string(text: grouping.rawValue)
    result.key("rows")
    result.beginArray()
    for row in rows {
      result.beginObject()
      result.key("metric"); result.string(text: row.metric)
      result.key("group")
      if let group = row.group { result.string(text: group) } else { result.null() }
      result.key("total"); result.int(row.total)
      result.key("changes"); result.int(row.changes)
      if row.reset != 0 {
        result.key("reset"); result.int(row.reset)
      }
      // The metric's fields and cost, as its MetricState names them.
      let descriptor = context.descriptor(at: metric)
      for (position, field) in descriptor.fields.prefix(LedgerStore.keptFields).enumerated() {
        result.key(text: field); result.int(row.fields[position])
      }
      if let currency = descriptor.currency {
        result.key("cost"); result.cost(row.cost)
        result.key("currency"); result.string(text: currency)
      }
      result.endObject()
    }
    result.endArray()
    result.endObject()
  }

  /// Reads the metric and then the params it accepts: `allowed` plus the metric's own fields (tokens: input,
}
