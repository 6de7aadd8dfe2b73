import JSON
import JSONRPC
import UsageCore

extension RPCErrorCode {
  /// An enforced increment would pass the metric's limit; nothing was applied (`data`: metric, used, limit,
  /// requested).
  static let limitExceeded = RPCErrorCode(rawValue: -32050)
  /// The change could not be written to the durable ledger (disk full, database locked by another process); it was
  /// not applied (`data`: reason `notRecorded`, detail).
  static let notRecorded = RPCErrorCode(rawValue: -32051)
  /// The change is for a metric held in another process, and the outbox of changes that process has not taken yet is
  /// full; it was not applied (`data`: reason `outboxFull`, metric, limit).
  static let outboxFull = RPCErrorCode(rawValue: -32052)
}

extension RPCError {
  /// The answer that replaces a change's answer when its commit failed.
  static func notRecorded(_ detail: String) -> RPCError {
    RPCError(.notRecorded, "Not recorded", data: ["reason": "notRecorded", "detail": .string(detail)])
  }
}

extension RPCError {
  /// The answer to a change refused because the outbox of its metric's remote authority is full.
  static func outboxFull(metric: String, limit: Int) -> RPCError {
    RPCError(
      .outboxFull, "Outbox full",
      data: ["reason": "outboxFull", "metric": .string(metric), "limit": .int(Int64(limit))])
  }
}

extension RPCError {
  /// The wire form of a usage error.
  init(_ error: UsageError) {
    switch error {
    case .invalidField(let field, let reason):
      self = .invalidParams(field: field, reason)
    case .unknownMetric(let name):
      self = .invalidParams(field: "metric", "is not a known metric", value: .string(name))
    case .limitExceeded(let metric, let used, let limit, let requested):
      self = RPCError(
        .limitExceeded, "Limit exceeded",
        data: ["metric": .string(metric), "used": .int(used), "limit": .int(limit), "requested": .int(requested)])
    }
  }
}
