import JSON
import JSONRPC

/// The message an agent reads when a tool fails (`isError: true`): what went wrong in terms of the tool's
/// arguments, and what to do about it.
enum MCPToolMessage {
  static func describe(_ error: RPCError, metrics: [String]) -> String {
    let data = error.data
    switch error.code {
    case .limitExceeded:
      let metric = data?["metric"]?.string ?? "the metric"
      let used = data?["used"]?.int ?? 0
      let limit = data?["limit"]?.int ?? 0
      let requested = data?["requested"]?.int ?? 0
      return """
        Limit exceeded: \(metric) has \(used) of \(limit) used (\(max(0, limit - used)) remaining), and \(requested) \
        more would pass the limit. Nothing was recorded. Use less, or ask the user before going on (a higher plan \
        tier raises the limit).
        """
    case .notRecorded:
      return """
        Not recorded: \(data?["detail"]?.string ?? "the ledger could not be written"). Nothing changed; call the \
        tool again (with the same key, if you gave one).
        """
    case .invalidParams:
      var field = data?["field"]?.string ?? "arguments"
      if field.hasPrefix("labels.") { field.removeFirst("labels.".count) }
      let reason = data?["reason"]?.string ?? error.message
      if field == "metric" {
        let value = data?["value"].map { "\($0.jsonText) " } ?? ""
        return "Invalid argument metric: \(value)\(reason); use one of \(metrics.joined(separator: ", "))."
      }
      if field == "groupBy" {
        return "Invalid argument groupBy: must be one of day, month, model, provider."
      }
      let value = data?["value"].map { " (got \($0.jsonText))" } ?? ""
      return "Invalid argument \(field): \(reason)\(value)."
    case .invalidRequest where data?["reason"]?.string == "noLedger":
      return "No history: this usagectx keeps no durable ledger (started with --no-state)."
    default:
      let detail = data.map { " \($0.jsonText)" } ?? ""
      return "\(error.message)\(detail)"
    }
  }
}
