/// A source of metrics. The standard metrics (documents, storage, requests, tokens) are plugins like any other.
///
/// The interface is deliberately plain data plus one optional hook, so that it maps one to one onto a C ABI for
/// plugins loaded at run time: a plugin names itself, declares its metrics for a given configuration, and may price
/// or weigh increments.
public protocol MetricPlugin: Sendable {
  /// The plugin's name and version.
  var info: PluginInfo { get }

  /// The metrics this plugin provides, configured by `options` (the plugin's own section of the configuration,
  /// `.null` when there is none). Throws ``UsageError`` for options it cannot accept.
  func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition]
}

/// A plugin's name and version.
public struct PluginInfo: Sendable, Equatable {
  public var name: String
  public var version: String
  public init(name: String, version: String) {
    self.name = name
    self.version = version
  }
}

/// A metric as a plugin defines it: its descriptor, its per-increment logic (hook) if any, and where its
/// authoritative value lives (authority) if anywhere.
public struct MetricDefinition: Sendable {
  public var descriptor: MetricDescriptor
  public var hook: (any MeasureHook)?
  public var authority: (any Authority)?
  public init(descriptor: MetricDescriptor, hook: (any MeasureHook)? = nil, authority: (any Authority)? = nil) {
    self.descriptor = descriptor
    self.hook = hook
    self.authority = authority
  }
}

/// Per-increment logic a metric declares (token pricing, weighting). Without a hook, an increment's amount is its
/// `amount`, or the sum of its declared fields. A hook may refuse an increment by throwing.
public protocol MeasureHook: Sendable {
  func measure(_ input: MeasureInput) throws(UsageError) -> Measurement
}

/// What an increment carried, in the metric's declared terms.
public struct MeasureInput: Sendable {
  /// Values of the descriptor's `fields`, in declaration order (0 when not given).
  public var fields: [Int64]
  /// The increment's labels.
  public var labels: [String: String]
  public init(fields: [Int64], labels: [String: String]) {
    self.fields = fields
    self.labels = labels
  }
}

/// What a hook made of an increment.
public struct Measurement: Sendable, Equatable {
  /// How much the metric's `used` grows.
  public var amount: Int64
  /// The cost of the increment, in the descriptor's currency.
  public var cost: Double
  /// `false` when the cost could not be determined (e.g. an unknown model): counted, priced at zero, flagged.
  public var priced: Bool
  /// Facts to show with the breakdown entry (e.g. `provider`).
  public var attributes: [String: String]

  public init(amount: Int64, cost: Double = 0, priced: Bool = true, attributes: [String: String] = [:]) {
    self.amount = amount
    self.cost = cost
    self.priced = priced
    self.attributes = attributes
  }
}
