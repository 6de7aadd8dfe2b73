import Testing
import UsageCore

/// Counting: increments and decrements, versions, saturation, enforced limits, pre-flight checks, and the change
/// feed subscribers are built on.
@Suite("Usage context")
struct UsageContextTests {
  @Test("an increment without an amount adds one")
  func defaultAmount() throws {
    let fixture = try Fixture()
    try fixture.increment("documents")
    try fixture.increment("documents")
    #expect(fixture.state("documents").used == 2)
    try fixture.increment("documents", 5)
    #expect(fixture.state("documents").used == 7)
  }

  @Test("a decrement shows at least zero but records the whole change, so later changes add up exactly")
  func decrementClamps() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 3)
    let taken = try fixture.decrement("documents", 5)
    #expect(taken.state.used == 0)
    #expect(taken.state.remaining == 100)
    // 3 - 5 + 2 = 0: the two taken beyond zero were recorded, and are made up first.
    try fixture.increment("documents", 2)
    #expect(fixture.state("documents").used == 0)
    try fixture.increment("documents", 4)
    #expect(fixture.state("documents").used == 4)
  }

  @Test("each change moves the version by exactly one; a decrement at zero changes nothing")
  func versions() throws {
    let fixture = try Fixture()
    let start = fixture.context.version
    let first = try fixture.increment("documents")
    #expect(first.state.version == start + 1)
    #expect(fixture.context.version == start + 1)
    try fixture.increment("storage", 4096)
    #expect(fixture.context.version == start + 2)
    try fixture.decrement("documents", 1)
    #expect(fixture.context.version == start + 3)
    #expect(fixture.state("documents").version == start + 3)

    let before = fixture.context.snapshot()
    let noop = try fixture.decrement("documents", 1)
    #expect(noop.state.used == 0)
    #expect(noop.state.version == start + 3)
    #expect(noop.crossing == nil)
    #expect(fixture.context.version == start + 3)
    #expect(fixture.context.snapshot() == before)
  }

  @Test("other metrics keep their version when one changes")
  func versionsArePerMetric() throws {
    let fixture = try Fixture()
    try fixture.increment("documents")
    let storage = fixture.state("storage").version
    try fixture.increment("documents")
    #expect(fixture.state("storage").version == storage)
    #expect(fixture.state("documents").version == fixture.context.version)
  }

  @Test("a change that would take a total past 2^63-1 is refused and changes nothing; the range is usable to its end")
  func range() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", .max)
    #expect(throws: UsageError.self) { try fixture.increment("widgets", 1) }
    let state = fixture.state("widgets")
    #expect(state.used == .max)
    #expect(state.remaining == 0)
    #expect(state.level == .exceeded)
    let check = try fixture.context.check(metric: fixture.index("widgets"), amount: .max)
    #expect(!check.allowed)
    #expect(check.remaining == 0)
    try fixture.decrement("widgets", .max)
    #expect(fixture.state("widgets").used == 0)
    try fixture.decrement("widgets", .max)
    #expect(throws: UsageError.self) { try fixture.decrement("widgets", 2) }
    #expect(try fixture.context.authority(ofMetric: fixture.index("widgets"))?.read() == -.max)
  }

  @Test("an unlimited metric reaches the top of the range and stays ok")
  func rangeUnlimited() throws {
    let fixture = try Fixture.single(limit: nil)
    try fixture.increment("widgets", .max - 1)
    try fixture.increment("widgets", 1)
    #expect(throws: UsageError.self) { try fixture.increment("widgets", 1) }
    let state = fixture.state("widgets")
    #expect(state.used == .max)
    #expect(state.limit == nil)
    #expect(state.remaining == nil)
    #expect(state.ratio == 0)
  }

  @Test("a negative increment is refused and changes nothing")
  func negativeIncrement() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 3)
    let version = fixture.context.version
    #expect(throws: UsageError.self) { try fixture.increment("documents", -5) }
    #expect(fixture.state("documents").used == 3)
    #expect(fixture.context.version == version)
    do {
      try fixture.tokens("gpt-4o", input: 10, output: -4)
      Issue.record("negative output tokens were accepted")
    } catch {
      guard case .invalidField(let field, _) = error else { throw error }
      #expect(field == "output")
    }
    #expect(fixture.state("tokens").used == 0)
    #expect(fixture.context.version == version)
  }

  @Test("an enforced increment that would pass the limit throws and changes nothing")
  func enforceRefuses() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 8, enforce: true)
    let version = fixture.context.version
    let before = fixture.state("widgets")
    #expect(throws: UsageError.limitExceeded(metric: "widgets", used: 8, limit: 10, requested: 3)) {
      try fixture.increment("widgets", 3, enforce: true)
    }
    #expect(fixture.state("widgets") == before)
    #expect(fixture.state("widgets").used == 8)
    #expect(fixture.context.version == version)
  }

  @Test("an enforced increment may reach the limit exactly, and not one more")
  func enforceReachesLimit() throws {
    let fixture = try Fixture.single(limit: 10)
    let result = try fixture.increment("widgets", 10, enforce: true)
    #expect(result.state.used == 10)
    #expect(result.state.remaining == 0)
    #expect(result.state.level == .exceeded)
    #expect(throws: UsageError.limitExceeded(metric: "widgets", used: 10, limit: 10, requested: 1)) {
      try fixture.increment("widgets", enforce: true)
    }
  }

  @Test("without enforce an increment may pass the limit")
  func unenforcedPassesLimit() throws {
    let fixture = try Fixture.single(limit: 10)
    let result = try fixture.increment("widgets", 15)
    #expect(result.state.used == 15)
    #expect(result.state.remaining == 0)
    #expect(result.state.ratio == 1.5)
  }

  @Test("an enforced increment on an unlimited metric always succeeds")
  func enforceUnlimited() throws {
    let fixture = try Fixture.single(limit: nil)
    try fixture.increment("widgets", 1_000_000_000, enforce: true)
    #expect(fixture.state("widgets").used == 1_000_000_000)
  }

  @Test("an enforced token increment is measured before it is checked")
  func enforceTokens() throws {
    let fixture = try Fixture(configuration: configuration(["metrics": ["tokens": ["limits": ["free": 1000]]]]))
    let index = fixture.index("tokens")
    _ = try fixture.context.increment(
      metric: index, amount: nil, fields: [600, 300], labels: ["model": "gpt-4o"], enforce: true)
    let version = fixture.context.version
    #expect(throws: UsageError.limitExceeded(metric: "tokens", used: 900, limit: 1000, requested: 150)) {
      try fixture.context.increment(
        metric: index, amount: nil, fields: [100, 50], labels: ["model": "gpt-4o"], enforce: true)
    }
    let state = fixture.state("tokens")
    #expect(state.used == 900)
    #expect(state.fields.map(\.total) == [600, 300, 0, 0])
    #expect(state.breakdown.map(\.events) == [1])
    #expect(fixture.context.version == version)
  }

  @Test("concurrent enforced increments never share the last unit")
  func enforceConcurrently() async throws {
    let fixture = try Fixture.single(limit: 100)
    let context = fixture.context
    let index = fixture.index("widgets")
    let outcomes = await withTaskGroup(of: (succeeded: Int, refused: Int).self) { group in
      for _ in 0..<8 {
        group.addTask {
          var succeeded = 0
          var refused = 0
          for _ in 0..<200 {
            do throws(UsageError) {
              _ = try context.increment(metric: index, amount: 1, enforce: true)
              succeeded += 1
            } catch {
              if case .limitExceeded(_, let used, let limit, _) = error, used == 100, limit == 100 { refused += 1 }
            }
          }
          return (succeeded, refused)
        }
      }
      var all: [(succeeded: Int, refused: Int)] = []
      for await outcome in group { all.append(outcome) }
      return all
    }
    let succeeded = outcomes.map(\.succeeded).reduce(0, +)
    let refused = outcomes.map(\.refused).reduce(0, +)
    #expect(succeeded == 100)
    #expect(refused == 1500)
    #expect(context.state(ofMetric: index).used == 100)
    #expect(context.version == 100)
  }

  @Test("check answers allowed, remaining and level without changing anything")
  func check() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 7)
    let before = fixture.context.snapshot()
    let index = fixture.index("widgets")

    let fits = try fixture.context.check(metric: index, amount: 3)
    #expect(fits.metric == "widgets")
    #expect(fits.allowed)
    #expect(fits.requested == 3)
    #expect(fits.used == 7)
    #expect(fits.limit == 10)
    #expect(fits.remaining == 3)
    #expect(fits.level == .ok)
    let tooMuch = try fixture.context.check(metric: index, amount: 4)
    #expect(!tooMuch.allowed)
    #expect(tooMuch.requested == 4)
    #expect(tooMuch.remaining == 3)
    #expect(fixture.context.snapshot() == before)

    try fixture.increment("widgets", 1)
    #expect(try fixture.context.check(metric: index, amount: 0).level == .warning)
    try fixture.increment("widgets", 5)
    let over = try fixture.context.check(metric: index, amount: 0)
    #expect(over.level == .exceeded)
    #expect(over.remaining == 0)
    #expect(!over.allowed)
  }

  @Test("check on an unlimited metric always allows")
  func checkUnlimited() throws {
    let fixture = try Fixture.single(limit: nil)
    let result = try fixture.context.check(metric: fixture.index("widgets"), amount: .max)
    #expect(result.allowed)
    #expect(result.limit == nil)
    #expect(result.remaining == nil)
    #expect(result.level == .ok)
  }

  @Test("changes(since:) returns only the metrics changed after a version")
  func changesSince() throws {
    let fixture = try Fixture()
    try fixture.increment("documents")
    let mark = fixture.context.version
    #expect(fixture.context.changes(since: mark).metrics.isEmpty)
    try fixture.increment("storage", 10)
    try fixture.increment("requests")
    let changes = fixture.context.changes(since: mark)
    #expect(changes.version == fixture.context.version)
    #expect(changes.metrics.map(\.name) == ["requests", "storage"])
    let among = fixture.context.changes(since: mark, among: [fixture.index("documents"), fixture.index("storage")])
    #expect(among.metrics.map(\.name) == ["storage"])
    #expect(fixture.context.changes(since: 0).metrics.map(\.name) == ["documents", "requests", "storage"])
  }

  @Test("applying every change in order reproduces the snapshot")
  func changesReproduceSnapshot() throws {
    let fixture = try Fixture()
    var mirror = fixture.context.snapshot()
    var seen = mirror.version
    var generator = SplitMix(seed: 42)
    let names = ["documents", "storage", "requests", "tokens"]
    let models = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "mystery-model"]
    for step in 0..<400 {
      let name = names[Int(generator.next() % 4)]
      let amount = Int64(generator.next() % 50)
      switch (name, generator.next() % 3) {
      case ("tokens", 0):
        _ = try fixture.context.reset(metric: fixture.index("tokens"), breakdownKey: models[step % 4])
      case ("tokens", _):
        try fixture.tokens(models[Int(generator.next() % 4)], input: amount, output: amount / 2)
      case (_, 0):
        try fixture.decrement(name, amount)
      default:
        try fixture.increment(name, amount)
      }
      if step % 7 == 0 {
        let changes = fixture.context.changes(since: seen)
        #expect(changes.version > seen || changes.metrics.isEmpty)
        for state in changes.metrics {
          let position = try #require(mirror.metrics.firstIndex { $0.name == state.name })
          mirror.metrics[position] = state
        }
        mirror.version = changes.version
        seen = changes.version
      }
    }
    let changes = fixture.context.changes(since: seen)
    for state in changes.metrics {
      let position = try #require(mirror.metrics.firstIndex { $0.name == state.name })
      mirror.metrics[position] = state
    }
    mirror.version = changes.version
    #expect(mirror == fixture.context.snapshot())
  }

  @Test("two plugins declaring the same metric are refused, naming the plugin")
  func duplicateMetric() throws {
    let first = FixedPlugin(
      name: "alpha", MetricDescriptor(name: "seats", unit: "seats", kind: .count, limits: .unlimited))
    let second = FixedPlugin(
      name: "beta", MetricDescriptor(name: "seats", unit: "seats", kind: .count, limits: .unlimited))
    do {
      _ = try UsageContext(plugins: [first, second], clock: ManualWallClock(Fixture.defaultStart))
      Issue.record("a duplicate metric was accepted")
    } catch {
      guard case .invalidField(let field, let reason) = error else {
        Issue.record("unexpected error \(error)")
        return
      }
      #expect(field == "plugins.beta")
      #expect(reason.contains("seats"))
    }
    #expect(throws: UsageError.self) {
      try UsageContext(plugins: [TwiceDeclaringPlugin()], clock: ManualWallClock(Fixture.defaultStart))
    }
  }

  @Test("metrics are found by name, as text or bytes")
  func lookup() throws {
    let fixture = try Fixture()
    // Plugins load in search-path order, then by file name.
    #expect(fixture.context.metricNames == ["documents", "requests", "storage", "tokens"])
    #expect(fixture.context.index(ofMetric: "tokens") == 3)
    #expect(fixture.context.index(ofMetric: "token") == nil)
    let bytes = Array("storage".utf8)
    #expect(bytes.withUnsafeBytes { fixture.context.index(ofMetric: $0) } == 2)
    let prefix = Array("stor".utf8)
    #expect(prefix.withUnsafeBytes { fixture.context.index(ofMetric: $0) } == nil)
  }

  @Test("an error is recorded and cleared as a change, keeping the numbers")
  func errors() throws {
    let fixture = try Fixture()
    try fixture.increment("storage", 100)
    let index = fixture.index("storage")
    let version = fixture.context.version
    fixture.context.setError(metric: index, "disk unavailable")
    #expect(fixture.state("storage").error == "disk unavailable")
    #expect(fixture.state("storage").used == 100)
    #expect(fixture.context.version == version + 1)
    fixture.context.setError(metric: index, "disk unavailable")
    #expect(fixture.context.version == version + 1)
    fixture.context.resetErrors()
    #expect(fixture.state("storage").error == nil)
    #expect(fixture.context.version == version + 2)
  }
}

/// One plugin that declares the same metric twice.
private struct TwiceDeclaringPlugin: MetricPlugin {
  var info: PluginInfo { PluginInfo(name: "twice", version: "1") }
  func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    let descriptor = MetricDescriptor(name: "documents", unit: "documents", kind: .count, limits: .unlimited)
    return [MetricDefinition(descriptor: descriptor), MetricDefinition(descriptor: descriptor)]
  }
}

/// A small deterministic generator, so a failing sequence can be replayed.
struct SplitMix {
  private var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var value = state
    value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
    value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
    return value ^ (value >> 31)
  }
}
