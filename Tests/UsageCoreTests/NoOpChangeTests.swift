import Testing
import UsageCore

/// Changes that change nothing keep the version where it is, so subscribers are not told about them; and the
/// pre-flight check measures increments the way increments are measured.
@Suite("No-op changes and checks")
struct NoOpChangeTests {
  @Test("an increment of zero keeps the version and the numbers")
  func zeroIncrement() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 3)
    let before = fixture.context.version
    let result = try fixture.increment("documents", 0)
    #expect(result.state.used == 3)
    #expect(fixture.context.version == before)
    #expect(fixture.context.changes(since: before).metrics.isEmpty)
    try fixture.tokens("gpt-4o", input: 0, output: 0)
    #expect(fixture.context.version == before)
    #expect(fixture.state("tokens").breakdown.isEmpty)
  }

  @Test("setting the tier already in force changes nothing")
  func sameTier() throws {
    let fixture = try Fixture()
    let before = fixture.context.version
    #expect(fixture.context.setTier(.free).isEmpty)
    #expect(fixture.context.version == before)
    _ = fixture.context.setTier(.pro)
    #expect(fixture.context.version == before + 1)
  }

  @Test("resetting what is already zero, or a breakdown entry that does not exist, changes nothing")
  func emptyResets() throws {
    let fixture = try Fixture()
    let before = fixture.context.version
    _ = try fixture.context.reset(metric: fixture.index("documents"))
    _ = try fixture.context.reset(metric: fixture.index("tokens"), breakdownKey: "gpt-4o")
    #expect(fixture.context.version == before)
    try fixture.tokens("gpt-4o", input: 10, output: 5)
    let counted = fixture.context.version
    _ = try fixture.context.reset(metric: fixture.index("tokens"), breakdownKey: "claude-3-haiku")
    #expect(fixture.context.version == counted)
    #expect(fixture.state("tokens").used == 15)
  }

  @Test("check measures fields like increment, and takes a plain amount when no field is given")
  func checkWithFields() throws {
    let fixture = try Fixture()
    let tokens = fixture.index("tokens")
    try fixture.tokens("gpt-4o", input: 60_000, output: 10_000)
    let fields = try fixture.context.check(metric: tokens, amount: nil, fields: [20_000, 15_000], labels: [:])
    #expect(fields.requested == 35_000)
    #expect(!fields.allowed)
    let plain = try fixture.context.check(metric: tokens, amount: 30_000)
    #expect(plain.requested == 30_000)
    #expect(plain.allowed)
    #expect(throws: UsageError.self) {
      try fixture.context.check(metric: tokens, amount: 1, fields: [2, 3], labels: [:])
    }
    #expect(fixture.state("tokens").used == 70_000)
  }
}
