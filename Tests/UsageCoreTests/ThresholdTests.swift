import Testing
import UsageCore

/// Levels (ok, warning, exceeded) and the crossings reported once each time a metric rises past a threshold.
@Suite("Thresholds")
struct ThresholdTests {
  @Test("ok below 80 %, warning from 80 %, exceeded from 100 %")
  func defaultLevels() {
    let thresholds = Thresholds()
    #expect(thresholds.level(used: 0, limit: 100) == .ok)
    #expect(thresholds.level(used: 79, limit: 100) == .ok)
    #expect(thresholds.level(used: 80, limit: 100) == .warning)
    #expect(thresholds.level(used: 99, limit: 100) == .warning)
    #expect(thresholds.level(used: 100, limit: 100) == .exceeded)
    #expect(thresholds.level(used: 250, limit: 100) == .exceeded)
    #expect(thresholds.level(used: 7, limit: 10) == .ok)
    #expect(thresholds.level(used: 8, limit: 10) == .warning)
    #expect(thresholds.level(used: 3, limit: 5) == .ok)
    #expect(thresholds.level(used: 4, limit: 5) == .warning)
    #expect(thresholds.level(used: 5, limit: 5) == .exceeded)
  }

  @Test("the boundaries hold for every limit up to 1000")
  func boundariesForManyLimits() {
    let thresholds = Thresholds()
    for limit in Int64(1)...1000 {
      let warningFrom = (limit * 4 + 4) / 5  // ceil(0.8 · limit)
      #expect(thresholds.level(used: warningFrom - 1, limit: limit) == .ok)
      if warningFrom < limit {
        #expect(thresholds.level(used: warningFrom, limit: limit) == .warning)
      }
      #expect(thresholds.level(used: limit - 1, limit: limit) != .exceeded)
      #expect(thresholds.level(used: limit, limit: limit) == .exceeded)
    }
  }

  @Test("an unlimited metric has ratio 0 and is always ok")
  func unlimited() {
    #expect(Thresholds.ratio(used: 1_000_000, limit: nil) == 0)
    #expect(Thresholds().level(used: .max, limit: nil) == .ok)
  }

  @Test("a zero limit counts as exceeded")
  func zeroLimit() throws {
    #expect(Thresholds.ratio(used: 0, limit: 0) == 1)
    #expect(Thresholds().level(used: 0, limit: 0) == .exceeded)
    let fixture = try Fixture.single(limit: 0)
    let state = fixture.state("widgets")
    #expect(state.level == .exceeded)
    #expect(state.remaining == 0)
    #expect(state.ratio == 1)
    #expect(throws: UsageError.limitExceeded(metric: "widgets", used: 0, limit: 0, requested: 1)) {
      try fixture.increment("widgets", enforce: true)
    }
    #expect(try !fixture.context.check(metric: fixture.index("widgets"), amount: 1).allowed)
  }

  @Test("states carry ratio, remaining and level; remaining is never negative")
  func stateNumbers() throws {
    let fixture = try Fixture.single(limit: 10)
    var state = try fixture.increment("widgets", 4).state
    #expect(state.ratio == 0.4)
    #expect(state.remaining == 6)
    #expect(state.level == .ok)
    state = try fixture.increment("widgets", 4).state
    #expect(state.ratio == 0.8)
    #expect(state.level == .warning)
    state = try fixture.increment("widgets", 5).state
    #expect(state.ratio == 1.3)
    #expect(state.remaining == 0)
    #expect(state.level == .exceeded)
  }

  @Test("thresholds come from configuration")
  func customThresholds() throws {
    let fixture = try Fixture(
      configuration: configuration([
        "metrics": ["documents": ["limits": ["free": 10], "warning": 0.5, "exceeded": 0.9]]
      ]))
    #expect(
      fixture.context.descriptor(at: fixture.index("documents")).thresholds == Thresholds(warning: 0.5, exceeded: 0.9))
    #expect(try fixture.increment("documents", 4).crossing == nil)
    let warning = try fixture.increment("documents")
    #expect(warning.state.level == .warning)
    #expect(warning.crossing?.level == .warning)
    let exceeded = try fixture.increment("documents", 4)
    #expect(exceeded.state.level == .exceeded)
    #expect(exceeded.crossing?.level == .exceeded)
    #expect(exceeded.state.remaining == 1)
  }

  @Test("each upward crossing is reported once, and again after falling back")
  func crossingsOnce() throws {
    let fixture = try Fixture.single(limit: 10)
    var reported: [(Int64, ThresholdCrossing)] = []
    func step(_ amount: Int64) throws {
      let result = try fixture.increment("widgets", amount)
      if let crossing = result.crossing { reported.append((result.state.used, crossing)) }
    }
    for _ in 0..<12 { try step(1) }
    #expect(reported.map(\.0) == [8, 10])
    #expect(reported.map(\.1.level) == [.warning, .exceeded])
    #expect(reported[0].1.is("widgets", .warning, ratio: 0.8, used: 8, limit: 10))
    #expect(reported[1].1.is("widgets", .exceeded, ratio: 1.0, used: 10, limit: 10))

    reported.removeAll()
    for _ in 0..<6 {
      #expect(try fixture.decrement("widgets", 1).crossing == nil)
    }
    #expect(fixture.state("widgets").level == .ok)
    for _ in 0..<4 { try step(1) }
    #expect(reported.map(\.0) == [8, 10])
    #expect(reported.map(\.1.level) == [.warning, .exceeded])
  }

  @Test("falling from exceeded to warning and rising again reports exceeded again")
  func reExceed() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 10)
    let down = try fixture.decrement("widgets", 1)
    #expect(down.crossing == nil)
    #expect(down.state.level == .warning)
    #expect(try fixture.increment("widgets").crossing?.level == .exceeded)
  }

  @Test("a jump from ok to exceeded is reported once, as exceeded")
  func jump() throws {
    let fixture = try Fixture.single(limit: 10)
    let result = try fixture.increment("widgets", 15)
    #expect(result.crossing?.is("widgets", .exceeded, ratio: 1.5, used: 15, limit: 10) == true)
    #expect(try fixture.increment("widgets").crossing == nil)
  }

  @Test("a decrement never reports, even across a threshold")
  func decrementQuiet() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 12)
    #expect(try fixture.decrement("widgets", 3).crossing == nil)
    #expect(try fixture.decrement("widgets", 9).crossing == nil)
    #expect(fixture.state("widgets").level == .ok)
  }

  @Test("a refused enforced increment reports nothing")
  func refusedQuiet() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 7)
    #expect(throws: UsageError.self) { try fixture.increment("widgets", 4, enforce: true) }
    #expect(fixture.state("widgets").level == .ok)
    #expect(try fixture.increment("widgets", 1).crossing?.level == .warning)
  }

  @Test("setTier to a lower limit reports the crossing it causes")
  func tierCrossings() throws {
    let fixture = try Fixture(configuration: configuration(["tier": "pro"]))
    try fixture.increment("documents", 90)
    try fixture.increment("requests", 85)
    #expect(fixture.state("documents").level == .ok)
    let version = fixture.context.version
    let crossings = fixture.context.setTier(.free)
    #expect(fixture.context.tier == .free)
    #expect(crossings.count == 2)
    #expect(crossings.first?.is("documents", .warning, ratio: 0.9, used: 90, limit: 100) == true)
    #expect(crossings.last?.is("requests", .warning, ratio: 0.85, used: 85, limit: 100) == true)
    #expect(fixture.context.version == version + 1)
    #expect(fixture.context.snapshot().metrics.allSatisfy { $0.version == version + 1 })
    #expect(fixture.context.setTier(.free).isEmpty)
    #expect(fixture.context.setTier(.pro).isEmpty)
    #expect(fixture.state("documents").level == .ok)
    #expect(fixture.state("documents").limit == 10_000)
    #expect(fixture.context.setTier(.free).map(\.metric) == ["documents", "requests"])
  }

  @Test("a reset lowers the level, and the next crossing is reported again")
  func resetThenCross() throws {
    let fixture = try Fixture.single(limit: 10)
    try fixture.increment("widgets", 9)
    let reset = try fixture.context.reset(metric: fixture.index("widgets"))
    #expect(reset.crossing == nil)
    #expect(reset.state.used == 0)
    #expect(reset.state.level == .ok)
    #expect(try fixture.increment("widgets", 8).crossing?.level == .warning)
  }
}
