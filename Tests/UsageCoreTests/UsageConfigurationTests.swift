import Testing
import UsageCore

/// Configuration: reading overrides, naming the offending field by its path, and reconfiguring a live context.
@Suite("Usage configuration")
struct UsageConfigurationTests {
  static func fieldOfError(_ body: () throws(UsageError) -> Void) -> String? {
    do {
      try body()
      return nil
    } catch {
      guard case .invalidField(let field, _) = error else { return "\(error)" }
      return field
    }
  }

  @Test(
    "merge errors name the field path",
    arguments: [
      (["metrics": ["requests": ["period": "weekly"]]], "config.metrics.requests.period"),
      (["metrics": ["requests": ["period": 1]]], "config.metrics.requests.period"),
      (["metrics": ["documents": ["limits": ["gold": 5]]]], "config.metrics.documents.limits.gold"),
      (["metrics": ["documents": ["limits": ["free": -1]]]], "config.metrics.documents.limits.free"),
      (["metrics": ["documents": ["limits": ["pro": 2.5]]]], "config.metrics.documents.limits.pro"),
      (["metrics": ["documents": ["limits": ["ultra": "many"]]]], "config.metrics.documents.limits.ultra"),
      (["metrics": ["documents": ["limits": 5]]], "config.metrics.documents.limits"),
      (["metrics": ["documents": ["ceiling": 5]]], "config.metrics.documents.ceiling"),
      (["metrics": ["documents": ["warning": 0]]], "config.metrics.documents.warning"),
      (["metrics": ["documents": ["exceeded": -1.0]]], "config.metrics.documents.exceeded"),
      (["metrics": ["documents": true]], "config.metrics.documents"),
      (["metrics": []], "config.metrics"),
      (["plugins": "tokens"], "config.plugins"),
      (["tier": "gold"], "config.tier"),
      (["colour": "blue"], "config.colour"),
      ("free", "config"),
    ] as [(ConfigValue, String)])
  func mergeErrors(value: ConfigValue, field: String) {
    var configuration = UsageConfiguration()
    #expect(Self.fieldOfError { () throws(UsageError) in try configuration.merge(value) } == field)
    #expect(configuration == UsageConfiguration())
    #expect(Self.fieldOfError { () throws(UsageError) in _ = try UsageConfiguration(value) } == field)
  }

  @Test("every part is optional; null is an empty configuration")
  func empty() throws {
    #expect(try UsageConfiguration(nil) == UsageConfiguration())
    #expect(try UsageConfiguration([:]) == UsageConfiguration())
    #expect(UsageConfiguration().tier == .free)
  }

  @Test("overrides are read and merged over earlier ones")
  func merging() throws {
    var configuration = try UsageConfiguration([
      "tier": "pro", "metrics": ["documents": ["limits": ["free": 5, "pro": nil]]],
    ])
    try configuration.merge(["metrics": ["documents": ["warning": 0.5], "requests": ["period": "monthly"]]])
    #expect(configuration.tier == .pro)
    let documents = try #require(configuration.metrics["documents"])
    #expect(documents.limits[.free] == .some(5))
    #expect(documents.limits[.pro] == .some(nil))
    #expect(documents.limits[.ultra] == nil)
    #expect(documents.warning == 0.5)
    #expect(configuration.metrics["requests"]?.period == .monthly)
    try configuration.merge(["tier": "ultra"])
    #expect(configuration.tier == .ultra)
    #expect(configuration.metrics["documents"]?.warning == 0.5)
  }

  @Test("a null limit means unlimited")
  func nullLimit() throws {
    let fixture = try Fixture(configuration: configuration(["metrics": ["documents": ["limits": ["free": nil]]]]))
    #expect(fixture.context.descriptor(at: fixture.index("documents")).limits.free == nil)
    let state = try fixture.increment("documents", 1_000_000).state
    #expect(state.limit == nil)
    #expect(state.remaining == nil)
    #expect(state.ratio == 0)
    #expect(state.level == .ok)
    #expect(fixture.state("storage").limit == 100 << 20)
  }

  @Test("limits apply per tier and fall back to the plugin's defaults")
  func limitsPerTier() throws {
    let fixture = try Fixture(configuration: configuration(["metrics": ["documents": ["limits": ["pro": 7]]]]))
    #expect(fixture.state("documents").limit == 100)
    _ = fixture.context.setTier(.pro)
    #expect(fixture.state("documents").limit == 7)
    _ = fixture.context.setTier(.ultra)
    #expect(fixture.state("documents").limit == nil)
  }

  @Test("an override of a metric that does not exist is refused")
  func unknownMetricOverride() throws {
    let clock = ManualWallClock(Fixture.defaultStart)
    #expect(
      Self.fieldOfError { () throws(UsageError) in
        _ = try UsageContext(
          plugins: Fixture.standardPlugins,
          configuration: try UsageConfiguration(["metrics": ["pages": ["limits": ["free": 1]]]]),
          clock: clock)
      } == "config.metrics.pages")
    let fixture = try Fixture()
    #expect(
      Self.fieldOfError { () throws(UsageError) in
        _ = try fixture.context.reconfigure(try UsageConfiguration(["metrics": ["pages": ["warning": 0.5]]]))
      } == "config.metrics.pages")
  }

  @Test("options for a plugin that takes none are refused, naming the setting")
  func pluginWithoutOptions() throws {
    #expect(
      Self.fieldOfError { () throws(UsageError) in
        _ = try UsageContext(
          plugins: Fixture.standardPlugins,
          configuration: try UsageConfiguration(["plugins": ["documents": ["max": 3]]]),
          clock: ManualWallClock(Fixture.defaultStart))
      } == "config.plugins.documents.max")
    #expect(
      Self.fieldOfError { () throws(UsageError) in _ = try Fixture.standardPlugin("documents").metrics(options: "yes") }
        == "config.plugins.documents")
    #expect(try Fixture.standardPlugin("documents").metrics(options: [:]).count == 1)
  }

  @Test("reconfigure keeps counted numbers and updates limits")
  func reconfigure() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 50)
    try fixture.increment("requests", 10)
    try fixture.tokens("gpt-4o", input: 100, output: 10)
    let version = fixture.context.version
    let crossings = try fixture.context.reconfigure(
      configuration(["metrics": ["documents": ["limits": ["free": 60]], "requests": ["limits": ["free": 10]]]]))
    #expect(crossings.map(\.metric) == ["documents", "requests"])
    #expect(crossings.map(\.level) == [.warning, .exceeded])
    let documents = fixture.state("documents")
    #expect(documents.used == 50)
    #expect(documents.limit == 60)
    #expect(documents.remaining == 10)
    #expect(documents.level == .warning)
    #expect(fixture.state("requests").used == 10)
    #expect(fixture.state("tokens").used == 110)
    #expect(fixture.context.version == version + 1)
    #expect(fixture.context.configuration.metrics["documents"]?.limits[.free] == .some(60))
  }

  @Test("reconfigure changes the tier and thresholds")
  func reconfigureTier() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 150)
    #expect(fixture.state("documents").level == .exceeded)
    let crossings = try fixture.context.reconfigure(
      configuration(["tier": "pro", "metrics": ["documents": ["warning": 0.01]]]))
    #expect(fixture.context.tier == .pro)
    #expect(fixture.state("documents").limit == 10_000)
    #expect(fixture.state("documents").level == .warning)
    #expect(crossings.isEmpty)  // exceeded → warning is a fall, not a crossing
  }

  @Test("a refused reconfiguration changes nothing")
  func refusedReconfigure() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 5)
    let before = fixture.context.snapshot()
    #expect(throws: UsageError.self) {
      try fixture.context.reconfigure(configuration(["plugins": ["tokens": ["prices": ["x": [:]]]]]))
    }
    #expect(fixture.context.snapshot() == before)
    #expect(fixture.context.configuration == UsageConfiguration())
  }

  @Test("reconfigured token prices apply to later increments only")
  func reconfigurePrices() throws {
    let fixture = try Fixture()
    try fixture.tokens("gpt-4o", input: 1_000_000, output: 0)
    #expect(fixture.state("tokens").cost == 2.5)
    _ = try fixture.context.reconfigure(
      configuration(["plugins": ["tokens": ["prices": ["gpt-4o": ["input": 1.0, "output": 1.0]]]]]))
    try fixture.tokens("gpt-4o", input: 1_000_000, output: 0)
    #expect(fixture.state("tokens").cost == 3.5)
    #expect(fixture.state("tokens").used == 2_000_000)
  }
}
