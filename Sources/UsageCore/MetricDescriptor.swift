/// Everything the core needs to know about a metric, declared by its plugin. The core's behaviour for a metric
/// comes only from here and from the plugin's ``MeasureHook``; it never looks at a metric's name.
public struct MetricDescriptor: Sendable, Equatable {
  /// Unique name, used on the wire (`"documents"`).
  public var name: String
  /// Unit shown next to numbers (`"documents"`, `"bytes"`, `"tokens"`).
  public var unit: String
  public var kind: MetricKind
  /// Default limits per tier (configuration may override them).
  public var limits: TierLimits
  /// The counting window.
  public var period: Period
  public var thresholds: Thresholds
  /// Extra increment fields (non-negative integers) the metric accepts, e.g. `["input", "output"]`. When declared,
  /// an increment gives these instead of `amount`, and its amount is their sum unless the hook says otherwise.
  public var fields: [String]
  /// A label whose value splits the metric into a breakdown (e.g. `"model"` → `byModel`).
  public var breakdownLabel: String?
  /// Currency of the cost the hook computes; `nil` when the metric has no cost.
  public var currency: String?

  public init(
    name: String, unit: String, kind: MetricKind, limits: TierLimits, period: Period = .unlimited,
    thresholds: Thresholds = Thresholds(), fields: [String] = [], breakdownLabel: String? = nil,
    currency: String? = nil
  ) {
    self.name = name
    self.unit = unit
    self.kind = kind
    self.limits = limits
    self.period = period
    self.thresholds = thresholds
    self.fields = fields
    self.breakdownLabel = breakdownLabel
    self.currency = currency
  }

  /// The JSON member name of the breakdown: `"model"` → `"byModel"`.
  public var breakdownName: String? {
    guard let label = breakdownLabel, let first = label.first else { return nil }
    return "by" + first.uppercased() + label.dropFirst()
  }
}
