import Testing
import UsageCore

/// Periodic metrics: UTC calendar days and months, rolling over as the clock passes their end.
@Suite("Periods")
struct PeriodTests {
  @Test("period bounds for days and months")
  func bounds() {
    let noon = Timestamp(year: 2025, month: 3, day: 12, hour: 12)
    #expect(Period.daily.start(containing: noon) == Timestamp(year: 2025, month: 3, day: 12))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 3, day: 12))
        == Timestamp(year: 2025, month: 3, day: 13))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2024, month: 2, day: 28))
        == Timestamp(year: 2024, month: 2, day: 29))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 12, day: 31))
        == Timestamp(year: 2026, month: 1, day: 1))
    #expect(Period.monthly.start(containing: noon) == Timestamp(year: 2025, month: 3, day: 1))
    #expect(
      Period.monthly.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 3, day: 1))
        == Timestamp(year: 2025, month: 4, day: 1))
    #expect(
      Period.monthly.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 12, day: 1))
        == Timestamp(year: 2026, month: 1, day: 1))
    #expect(Period.unlimited.start(containing: noon) == nil)
    #expect(Period.unlimited.end(ofPeriodStartingAt: noon) == nil)
  }

  @Test("a daily period before 1970 starts at its own midnight")
  func dailyBeforeEpoch() {
    let time = Timestamp(year: 1969, month: 12, day: 31, hour: 23, minute: 59, second: 59)
    #expect(Period.daily.start(containing: time) == Timestamp(year: 1969, month: 12, day: 31))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 1969, month: 12, day: 31)) == Timestamp(milliseconds: 0))
    #expect(Period.monthly.start(containing: Timestamp(milliseconds: -1)) == Timestamp(year: 1969, month: 12, day: 1))
  }

  @Test("requests roll over at UTC midnight")
  func dailyRollover() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 12, hour: 23, minute: 59, second: 59))
    try fixture.increment("requests", 42)
    var state = fixture.state("requests")
    #expect(state.period == .daily)
    #expect(state.periodStart == Timestamp(year: 2025, month: 3, day: 12))
    #expect(state.nextReset == Timestamp(year: 2025, month: 3, day: 13))

    fixture.clock.advance(milliseconds: 999)
    #expect(fixture.state("requests").used == 42)
    fixture.clock.advance(milliseconds: 1)
    state = fixture.state("requests")
    #expect(state.used == 0)
    #expect(state.periodStart == Timestamp(year: 2025, month: 3, day: 13))
    #expect(state.nextReset == Timestamp(year: 2025, month: 3, day: 14))
    #expect(state.remaining == 100)
  }

  @Test("only periodic metrics roll over")
  func unlimitedMetricsStay() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 31, hour: 23))
    try fixture.increment("documents", 5)
    try fixture.increment("requests", 5)
    try fixture.tokens("gpt-4o", input: 10, output: 5)
    fixture.clock.advance(seconds: 3600)
    #expect(fixture.state("documents").used == 5)
    #expect(fixture.state("documents").periodStart == nil)
    #expect(fixture.state("requests").used == 0)
    #expect(fixture.state("tokens").used == 0)
  }

  @Test("several days passing roll over once, into the current day")
  func skipDays() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 12, hour: 8))
    try fixture.increment("requests", 3)
    let version = fixture.context.version
    fixture.clock.set(Timestamp(year: 2025, month: 3, day: 20, hour: 17))
    let state = fixture.state("requests")
    #expect(state.used == 0)
    #expect(state.periodStart == Timestamp(year: 2025, month: 3, day: 20))
    #expect(state.nextReset == Timestamp(year: 2025, month: 3, day: 21))
    #expect(fixture.context.version == version + 1)  // tokens stay in March
  }

  @Test("tokens roll over monthly, December into January")
  func monthlyDecember() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 12, day: 31, hour: 23, minute: 59, second: 59))
    try fixture.tokens("gpt-4o", input: 1000, output: 500)
    var state = fixture.state("tokens")
    #expect(state.period == .monthly)
    #expect(state.periodStart == Timestamp(year: 2025, month: 12, day: 1))
    #expect(state.nextReset == Timestamp(year: 2026, month: 1, day: 1))
    fixture.clock.advance(seconds: 1)
    state = fixture.state("tokens")
    #expect(state.used == 0)
    #expect(state.cost == 0)
    #expect(state.fields.map(\.total) == [0, 0, 0, 0])
    #expect(state.breakdown.isEmpty)
    #expect(state.periodStart == Timestamp(year: 2026, month: 1, day: 1))
    #expect(state.nextReset == Timestamp(year: 2026, month: 2, day: 1))
  }

  @Test("a leap-year February runs to the 29th")
  func leapFebruary() throws {
    let fixture = try Fixture(at: Timestamp(year: 2024, month: 2, day: 10))
    try fixture.tokens("gpt-4o", input: 10, output: 0)
    #expect(fixture.state("tokens").nextReset == Timestamp(year: 2024, month: 3, day: 1))
    fixture.clock.set(Timestamp(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 59))
    #expect(fixture.state("tokens").used == 10)
    fixture.clock.set(Timestamp(year: 2024, month: 3, day: 1))
    #expect(fixture.state("tokens").used == 0)
    #expect(fixture.state("tokens").periodStart == Timestamp(year: 2024, month: 3, day: 1))
    #expect(fixture.state("tokens").nextReset == Timestamp(year: 2024, month: 4, day: 1))
  }

  @Test("a common-year February ends on the 28th; centuries follow the Gregorian rule")
  func commonFebruary() throws {
    #expect(
      Period.monthly.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 2, day: 1))
        == Timestamp(year: 2025, month: 3, day: 1))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2025, month: 2, day: 28))
        == Timestamp(year: 2025, month: 3, day: 1))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2100, month: 2, day: 28))
        == Timestamp(year: 2100, month: 3, day: 1))
    #expect(
      Period.daily.end(ofPeriodStartingAt: Timestamp(year: 2000, month: 2, day: 28))
        == Timestamp(year: 2000, month: 2, day: 29))
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 2, day: 28, hour: 12))
    try fixture.tokens("gpt-4o", input: 10, output: 0)
    fixture.clock.set(Timestamp(year: 2025, month: 3, day: 1))
    #expect(fixture.state("tokens").used == 0)
  }

  @Test("nextRollover names the earliest period end; rollOverDueMetrics rolls what is due")
  func timerHooks() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 31, hour: 22))
    #expect(fixture.context.nextRollover() == Timestamp(year: 2025, month: 4, day: 1))
    try fixture.increment("requests", 7)
    try fixture.tokens("claude-haiku-4-5", input: 100, output: 10)
    #expect(!fixture.context.rollOverDueMetrics())
    let version = fixture.context.version

    fixture.clock.set(Timestamp(year: 2025, month: 4, day: 1))
    // Reading changes without rolling: the timer hook does that.
    #expect(fixture.context.changes(since: version).metrics.isEmpty)
    #expect(fixture.context.rollOverDueMetrics())
    #expect(fixture.context.version == version + 2)
    let changed = fixture.context.changes(since: version)
    #expect(changed.metrics.map(\.name) == ["requests", "tokens"])
    #expect(changed.metrics.allSatisfy { $0.used == 0 })
    #expect(!fixture.context.rollOverDueMetrics())
    #expect(fixture.context.nextRollover() == Timestamp(year: 2025, month: 4, day: 2))
  }

  @Test("no periodic metric, no rollover")
  func noRollover() throws {
    let fixture = try Fixture.single(limit: 10)
    #expect(fixture.context.nextRollover() == nil)
    fixture.clock.advance(seconds: 86_400 * 400)
    #expect(!fixture.context.rollOverDueMetrics())
  }

  @Test("after a rollover the level is ok and the next crossing is reported again")
  func levelAfterRollover() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 12, hour: 20))
    #expect(try fixture.increment("requests", 80).crossing?.level == .warning)
    #expect(try fixture.increment("requests", 20).crossing?.level == .exceeded)
    #expect(throws: UsageError.self) { try fixture.increment("requests", enforce: true) }

    fixture.clock.set(Timestamp(year: 2025, month: 3, day: 13, hour: 1))
    #expect(fixture.context.rollOverDueMetrics())
    #expect(fixture.state("requests").level == .ok)
    #expect(try fixture.context.check(metric: fixture.index("requests"), amount: 100).allowed)
    #expect(try fixture.increment("requests", 79).crossing == nil)
    #expect(try fixture.increment("requests", 1).crossing?.level == .warning)
    #expect(try fixture.increment("requests", 20, enforce: true).crossing?.level == .exceeded)
  }

  @Test("an increment after the period ended counts in the new period")
  func incrementRollsFirst() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 12, hour: 23))
    try fixture.increment("requests", 99)
    fixture.clock.advance(seconds: 3600)
    let result = try fixture.increment("requests", 5, enforce: true)
    #expect(result.state.used == 5)
    #expect(result.state.periodStart == Timestamp(year: 2025, month: 3, day: 13))
  }

  @Test("reconfiguring the period restarts its bounds and keeps the count")
  func reconfigurePeriod() throws {
    let fixture = try Fixture(at: Timestamp(year: 2025, month: 3, day: 12, hour: 9))
    try fixture.increment("requests", 30)
    _ = try fixture.context.reconfigure(configuration(["metrics": ["requests": ["period": "monthly"]]]))
    var state = fixture.state("requests")
    #expect(state.period == .monthly)
    #expect(state.used == 30)
    #expect(state.periodStart == Timestamp(year: 2025, month: 3, day: 1))
    #expect(state.nextReset == Timestamp(year: 2025, month: 4, day: 1))
    fixture.clock.set(Timestamp(year: 2025, month: 3, day: 13, hour: 9))
    #expect(fixture.state("requests").used == 30)
    _ = try fixture.context.reconfigure(configuration(["metrics": ["requests": ["period": "unlimited"]]]))
    state = fixture.state("requests")
    #expect(state.periodStart == nil)
    #expect(state.nextReset == nil)
    #expect(state.used == 30)
  }
}
