/// Why the usage context refused an operation. Each case maps to one documented JSON-RPC error.
public enum UsageError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A parameter or configuration value is wrong; `field` names it (a dotted path for nested values).
  case invalidField(field: String, reason: String)
  /// No metric has this name.
  case unknownMetric(String)
  /// An enforced increment would pass the limit; nothing was applied.
  case limitExceeded(metric: String, used: Int64, limit: Int64, requested: Int64)

  public var description: String {
    switch self {
    case .invalidField(let field, let reason): return "\(field): \(reason)"
    case .unknownMetric(let name): return "unknown metric \(name)"
    case .limitExceeded(let metric, let used, let limit, let requested):
      return "\(metric): \(used) + \(requested) would pass the limit \(limit)"
    }
  }
}
