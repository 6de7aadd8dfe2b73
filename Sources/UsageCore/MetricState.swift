/// A metric's numbers at one version, as clients see them.
public struct MetricState: Sendable, Equatable {
  public var name: String
  public var kind: MetricKind
  public var unit: String
  /// Amount used in the current period.
  public var used: Int64
  /// Limit in the current tier; `nil` when unlimited.
  public var limit: Int64?
  /// limit − used, never negative; `nil` when unlimited.
  public var remaining: Int64?
  /// used / limit (0 when unlimited).
  public var ratio: Double
  public var level: UsageLevel
  /// The context version at which this metric last changed.
  public var version: UInt64
  /// The counting window, with its bounds for periodic metrics.
  public var period: Period
  public var periodStart: Timestamp?
  public var nextReset: Timestamp?
  /// The same two moments in ISO 8601 (UTC), ready to show.
  public var periodText: (start: String, nextReset: String)?
  /// Totals of the descriptor's fields, in declaration order, with their names.
  public var fields: [(name: String, total: Int64)]
  /// Total cost (metrics with a currency).
  public var cost: Double?
  public var currency: String?
  /// The breakdown's member name (`byModel`) and entries, for metrics with a breakdown label.
  public var breakdownName: String?
  public var breakdown: [BreakdownEntry]
  /// Breakdown keys that could not be priced (counted at zero cost).
  public var unpriced: [String]
  /// The last error from the metric's source, until cleared.
  public var error: String?
  /// How the metric's synchronisation with its authority stands; `nil` until refreshes are scheduled.
  public var sync: SyncStatus?
  /// The sum of local changes the authority has not acknowledged yet (already part of `used`).
  public var unconfirmed: Int64 = 0

  public static func == (lhs: MetricState, rhs: MetricState) -> Bool {
    lhs.name == rhs.name && lhs.used == rhs.used && lhs.limit == rhs.limit && lhs.level == rhs.level
      && lhs.version == rhs.version && lhs.cost == rhs.cost && lhs.breakdown == rhs.breakdown
      && lhs.periodStart == rhs.periodStart && lhs.nextReset == rhs.nextReset && lhs.error == rhs.error
      && lhs.fields.map(\.total) == rhs.fields.map(\.total) && lhs.unpriced == rhs.unpriced
  }
}

/// One entry of a metric's breakdown (e.g. one model's tokens).
public struct BreakdownEntry: Sendable, Equatable {
  /// The label value (the model name).
  public var key: String
  public var amount: Int64
  /// Field totals, in the descriptor's order.
  public var fields: [Int64]
  public var cost: Double
  public var priced: Bool
  /// Number of increments counted.
  public var events: Int64
  /// Facts from the hook (e.g. `provider`).
  public var attributes: [String: String]
}

/// The whole context at one version.
public struct UsageSnapshot: Sendable, Equatable {
  public var version: UInt64
  public var tier: Tier
  public var metrics: [MetricState]
}

/// A metric rose to `warning` or `exceeded` (reported once per crossing).
public struct ThresholdCrossing: Sendable, Equatable {
  public var metric: String
  public var level: UsageLevel
  public var ratio: Double
  public var used: Int64
  public var limit: Int64?
}

/// The answer to a pre-flight check.
public struct CheckResult: Sendable, Equatable {
  public var metric: String
  public var allowed: Bool
  public var requested: Int64
  public var used: Int64
  public var limit: Int64?
  public var remaining: Int64?
  public var level: UsageLevel
}

/// The result of a change: the metric's new state and the threshold it crossed, if any.
public struct MutationResult: Sendable {
  public var state: MetricState
  public var crossing: ThresholdCrossing?
}
