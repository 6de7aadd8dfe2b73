/// The ratios of used to limit at which a metric's level changes.
public struct Thresholds: Sendable, Equatable {
  /// Ratio at which the level becomes `warning` (0.8 by default).
  public var warning: Double
  /// Ratio at which the level becomes `exceeded` (1.0 by default).
  public var exceeded: Double

  public init(warning: Double = 0.8, exceeded: Double = 1.0) {
    self.warning = warning
    self.exceeded = exceeded
  }

  /// The level for `used` against `limit` (`nil` limit: unlimited, always `ok`).
  public func level(used: Int64, limit: Int64?) -> UsageLevel {
    guard let limit else { return .ok }
    let ratio = Thresholds.ratio(used: used, limit: limit)
    if ratio >= exceeded { return .exceeded }
    if ratio >= warning { return .warning }
    return .ok
  }

  /// used / limit; a zero limit counts as fully used.
  public static func ratio(used: Int64, limit: Int64?) -> Double {
    guard let limit else { return 0 }
    guard limit > 0 else { return 1 }
    return Double(used) / Double(limit)
  }
}
