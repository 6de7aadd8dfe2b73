import Logging
import PluginHost
import UsageCore

/// A plugin that declares whatever metrics a test needs.
struct FixedPlugin: MetricPlugin {
  var name: String
  var descriptors: [MetricDescriptor]

  init(name: String, _ descriptors: MetricDescriptor...) {
    self.name = name
    self.descriptors = descriptors
  }

  var info: PluginInfo { PluginInfo(name: name, version: "0.0.1") }

  func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    try options.expectNoOptions(plugin: name)
    return descriptors.map { MetricDefinition(descriptor: $0) }
  }
}

/// A usage context over the standard plugins (or given ones), on a clock that moves only by hand.
struct Fixture {
  let clock: ManualWallClock
  let context: UsageContext

  /// The standard plugins, loaded from the shared libraries the build put next to the test bundle — the same way
  /// the sidecar loads them.
  static let standardPlugins: [any MetricPlugin] = PluginCatalog.load(
    searchPath: .standard(explicit: []), configuration: UsageConfiguration(), logger: Logger(label: "tests")
  ).plugins

  /// The loaded standard plugin named `name`.
  static func standardPlugin(_ name: String) -> any MetricPlugin {
    guard let plugin = standardPlugins.first(where: { $0.info.name == name }) else {
      fatalError("standard plugin \(name) not found next to the test bundle; run swift build")
    }
    return plugin
  }

  /// A Wednesday in March, mid-morning UTC.
  static let defaultStart = Timestamp(year: 2025, month: 3, day: 12, hour: 10, minute: 30)

  init(
    plugins: [any MetricPlugin] = Fixture.standardPlugins, configuration: UsageConfiguration = UsageConfiguration(),
    at start: Timestamp = Fixture.defaultStart
  ) throws {
    clock = ManualWallClock(start)
    context = try UsageContext(plugins: plugins, configuration: configuration, clock: clock)
  }

  /// A context with one `count` metric named `widgets` limited to `limit` in every tier.
  static func single(limit: Int64?, thresholds: Thresholds = Thresholds()) throws -> Fixture {
    let descriptor = MetricDescriptor(
      name: "widgets", unit: "widgets", kind: .count, limits: TierLimits(free: limit, pro: limit, ultra: limit),
      thresholds: thresholds)
    return try Fixture(plugins: [FixedPlugin(name: "widgets", descriptor)])
  }

  func index(_ name: String) -> Int {
    guard let index = context.index(ofMetric: name) else { fatalError("no metric \(name)") }
    return index
  }

  func state(_ name: String) -> MetricState { context.state(ofMetric: index(name)) }

  @discardableResult
  func increment(
    _ name: String, _ amount: Int64? = nil, enforce: Bool = false
  ) throws(UsageError) -> MutationResult {
    try context.increment(metric: index(name), amount: amount, enforce: enforce)
  }

  @discardableResult
  func tokens(
    _ model: String?, input: Int64?, output: Int64?, amount: Int64? = nil, provider: String? = nil
  ) throws(UsageError) -> MutationResult {
    var labels: [String: String] = [:]
    if let model { labels["model"] = model }
    if let provider { labels["provider"] = provider }
    return try context.increment(metric: index("tokens"), amount: amount, fields: [input, output], labels: labels)
  }

  @discardableResult
  func decrement(_ name: String, _ amount: Int64) throws -> MutationResult {
    try context.decrement(metric: index(name), amount: amount)
  }
}

/// Builds a configuration from a configuration value, as a file or `initialize` would give it.
func configuration(_ value: ConfigValue) throws -> UsageConfiguration {
  try UsageConfiguration(value)
}

/// Whether two amounts of money agree to within rounding.
func close(_ lhs: Double?, _ rhs: Double, tolerance: Double = 1e-12) -> Bool {
  guard let lhs else { return false }
  return abs(lhs - rhs) <= tolerance * max(1, abs(rhs))
}

extension ConfigValue: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral,
  ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
  ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
  ExpressibleByDictionaryLiteral
{
  init(nilLiteral: ()) { self = .null }
  init(booleanLiteral value: Bool) { self = .bool(value) }
  init(integerLiteral value: Int) { self = .number(Double(value)) }
  init(floatLiteral value: Double) { self = .number(value) }
  init(stringLiteral value: String) { self = .string(value) }
  init(arrayLiteral elements: ConfigValue...) { self = .array(elements) }
  init(dictionaryLiteral elements: (String, ConfigValue)...) {
    self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
  }
}

extension ThresholdCrossing {
  /// Whether this crossing reports exactly these numbers.
  func `is`(_ metric: String, _ level: UsageLevel, ratio: Double, used: Int64, limit: Int64?) -> Bool {
    self.metric == metric && self.level == level && self.ratio == ratio && self.used == used && self.limit == limit
  }
}
