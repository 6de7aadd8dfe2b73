import Testing
import UsageCore

/// The local ledger: the authority of metrics no other source claims. Every applied change is recorded; the
/// authoritative value is the total over the metric's current period, so a refresh never loses or doubles a change.
@Suite("Local ledger")
struct LedgerTests {
  @Test("totals per period come from day buckets")
  func dayBuckets() {
    let ledger = MemoryLedger()
    let monday = Timestamp(year: 2025, month: 3, day: 10, hour: 9)
    ledger.record(metric: "requests", delta: 3, at: monday)
    ledger.record(metric: "requests", delta: 4, at: monday.adding(milliseconds: 86_400_000))
    ledger.record(metric: "requests", delta: -1, at: monday.adding(milliseconds: 86_400_000 + 5))
    ledger.record(metric: "tokens", delta: 100, at: monday)
    #expect(ledger.total(metric: "requests", since: nil) == 6)
    #expect(ledger.total(metric: "requests", since: Timestamp(year: 2025, month: 3, day: 11)) == 3)
    #expect(ledger.total(metric: "requests", since: Timestamp(year: 2025, month: 3, day: 12)) == 0)
    #expect(ledger.total(metric: "tokens", since: Timestamp(year: 2025, month: 3, day: 1)) == 100)
    #expect(ledger.total(metric: "unknown", since: nil) == 0)
  }

  @Test("metrics without another source read the ledger, which agrees with what was applied")
  func refreshAgrees() throws {
    let fixture = try Fixture()
    let requests = fixture.index("requests")
    let authority = try #require(fixture.context.authority(ofMetric: requests))
    #expect(authority.name == "local ledger")
    try fixture.increment("requests", 5)
    try fixture.decrement("requests", 2)
    try fixture.decrement("requests", 10)  // shown as 0, recorded in full: 5 - 2 - 10 = -7
    #expect(fixture.state("requests").used == 0)
    try fixture.increment("requests", 4)
    #expect(try authority.read() == -3)
    #expect(fixture.state("requests").used == 0)
    try fixture.increment("requests", 4)
    #expect(try authority.read() == 1)
    let ticket = fixture.context.beginRead(metric: requests)
    guard case .accepted(let applied, let drift) = fixture.context.acceptReading(ticket, value: try authority.read())
    else {
      Issue.record("a reading that started after every change is accepted")
      return
    }
    #expect(applied.state.used == 1)
    // A reading that agrees changes nothing and is no drift.
    #expect(applied.crossing == nil)
    #expect(drift == nil)
  }

  @Test(
    "a model's reset is a display baseline (the total keeps it); a metric's reset is recorded, so the ledger agrees")
  func resets() throws {
    let fixture = try Fixture()
    let tokens = fixture.index("tokens")
    try fixture.tokens("gpt-4o", input: 100, output: 50)
    try fixture.tokens("claude-3-haiku", input: 10, output: 0)
    _ = try fixture.context.reset(metric: tokens, breakdownKey: "gpt-4o")
    #expect(try fixture.context.authority(ofMetric: tokens)?.read() == 160)
    #expect(fixture.state("tokens").used == 160)
    _ = try fixture.context.reset(metric: tokens)
    #expect(try fixture.context.authority(ofMetric: tokens)?.read() == 0)
  }

  @Test("a daily metric's ledger total starts again with the day, like the metric")
  func rollover() throws {
    let fixture = try Fixture()
    let requests = fixture.index("requests")
    try fixture.increment("requests", 7)
    fixture.clock.advance(seconds: 24 * 3600)
    #expect(fixture.state("requests").used == 0)
    #expect(try fixture.context.authority(ofMetric: requests)?.read() == 0)
    try fixture.increment("requests", 2)
    #expect(try fixture.context.authority(ofMetric: requests)?.read() == 2)
  }

  @Test("a configured authority replaces the ledger for its metric")
  func overrides() throws {
    struct Fixed: Authority {
      var name: String { "fixed" }
      func read() throws(AuthorityError) -> Int64 { 42 }
    }
    let context = try UsageContext(
      plugins: Fixture.standardPlugins, clock: ManualWallClock(Fixture.defaultStart), authorities: ["tokens": Fixed()])
    let tokens = try #require(context.index(ofMetric: "tokens"))
    let authority = try #require(context.authority(ofMetric: tokens))
    #expect(authority.name == "fixed")
    let ticket = context.beginRead(metric: tokens)
    guard case .accepted(let applied, _) = context.acceptReading(ticket, value: try authority.read()) else {
      Issue.record("the first reading is accepted")
      return
    }
    #expect(applied.state.used == 42)
  }
}
