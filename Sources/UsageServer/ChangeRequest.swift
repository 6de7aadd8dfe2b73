import UsageCore

/// A change a client asked for (`usage/increment`, `usage/decrement`, `usage/reset`), its params read and checked,
/// waiting to be decided inside a transaction of the ledger.
struct ChangeRequest {
  /// What to do to the metric.
  enum Operation {
    case increment(amount: Int64?, fields: [Int64?], labels: [String: String], enforce: Bool)
    case decrement(amount: Int64)
    /// The whole metric, or (with a label) one breakdown entry's display.
    case reset(label: String?)
  }

  var metric: Int
  var operation: Operation
  /// The client's idempotency key, and what identifies the request's params under it.
  var key: String?
  var fingerprint: String = ""
}
