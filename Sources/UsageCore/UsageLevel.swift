/// How close a metric is to its limit.
public enum UsageLevel: String, Sendable, Comparable {
  /// Below the warning threshold (80 % by default).
  case ok
  /// At or above the warning threshold, below the limit.
  case warning
  /// At or above the limit.
  case exceeded

  private var rank: Int {
    switch self {
    case .ok: return 0
    case .warning: return 1
    case .exceeded: return 2
    }
  }

  public static func < (lhs: UsageLevel, rhs: UsageLevel) -> Bool { lhs.rank < rhs.rank }
}
