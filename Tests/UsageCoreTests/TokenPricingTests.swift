import Testing
import UsageCore

/// Language-model tokens: amount is input plus output, cost comes from the model's prices, unknown models are
/// counted but flagged, and one model's share can be reset on its own.
@Suite("Token pricing")
struct TokenPricingTests {
  /// Dollars per million tokens, as published by each provider (standard, non-batch, base context).
  static let published: [(model: String, provider: String, input: Double, output: Double)] = [
    ("gpt-5", "openai", 1.25, 10.00),
    ("gpt-4.1-mini", "openai", 0.40, 1.60),
    ("gpt-4o", "openai", 2.50, 10.00),
    ("gpt-4o-mini", "openai", 0.15, 0.60),
    ("o3", "openai", 2.00, 8.00),
    ("claude-sonnet-4-5", "anthropic", 3.00, 15.00),
    ("claude-opus-4-1", "anthropic", 15.00, 75.00),
    ("claude-haiku-4-5", "anthropic", 1.00, 5.00),
    ("claude-3-5-haiku", "anthropic", 0.80, 4.00),
    ("gemini-2.5-pro", "google", 1.25, 10.00),
    ("gemini-2.5-flash", "google", 0.30, 2.50),
    ("gemini-2.0-flash-lite", "google", 0.075, 0.30),
  ]

  static func expectedCost(input: Int64, output: Int64, _ prices: (input: Double, output: Double)) -> Double {
    Double(input) * prices.input / 1_000_000 + Double(output) * prices.output / 1_000_000
  }

  @Test("each provider's models are priced per million input and output tokens")
  func publishedPrices() throws {
    let fixture = try Fixture()
    var total = 0.0
    for (position, entry) in Self.published.enumerated() {
      let input = Int64(1_000 + 137 * position)
      let output = Int64(250 + 61 * position)
      let result = try fixture.tokens(entry.model, input: input, output: output)
      let expected = Self.expectedCost(input: input, output: output, (entry.input, entry.output))
      total += expected
      let breakdown = try #require(result.state.breakdown.first { $0.key == entry.model })
      #expect(breakdown.amount == input + output, "\(entry.model)")
      #expect(breakdown.fields == [input, output, 0, 0])
      #expect(close(breakdown.cost, expected), "\(entry.model): \(breakdown.cost) ≠ \(expected)")
      #expect(breakdown.priced)
      #expect(breakdown.attributes["provider"] == entry.provider)
      #expect(breakdown.attributes["pricedAs"] == entry.model)
    }
    let state = fixture.state("tokens")
    #expect(close(state.cost, total))
    #expect(state.currency == "USD")
    #expect(state.unpriced.isEmpty)
    #expect(state.breakdownName == "byModel")
  }

  @Test("amount is input plus output; the field totals add up per model and overall")
  func amountIsSum() throws {
    let fixture = try Fixture()
    let first = try fixture.tokens("gpt-4o", input: 1200, output: 300)
    #expect(first.state.used == 1500)
    #expect(first.state.fields.map(\.name) == ["input", "output", "cacheRead", "cacheWrite"])
    #expect(first.state.fields.map(\.total) == [1200, 300, 0, 0])
    try fixture.tokens("gpt-4o", input: 100, output: 50)
    try fixture.tokens("claude-sonnet-4-5", input: 10, output: 0)
    try fixture.tokens("gemini-2.5-flash", input: nil, output: 7)
    let state = fixture.state("tokens")
    #expect(state.used == 1667)
    #expect(state.fields.map(\.total) == [1310, 357, 0, 0])
    #expect(state.breakdown.map(\.key) == ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-flash"])
    #expect(state.breakdown.map(\.amount) == [1650, 10, 7])
    #expect(state.breakdown.map(\.events) == [2, 1, 1])
    let gpt = state.breakdown[0]
    #expect(close(gpt.cost, Self.expectedCost(input: 1300, output: 350, (2.50, 10.00))))
  }

  @Test(
    "dated, versioned and provider-prefixed names price as their base model",
    arguments: [
      ("gpt-4o-2024-08-06", "gpt-4o"), ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"), ("gpt-4.1-2025-04-14", "gpt-4.1"),
      ("gpt-4-0613", "gpt-4"), ("gpt-4-turbo-2024-04-09", "gpt-4-turbo"), ("o3-mini-2025-01-31", "o3-mini"),
      ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"), ("claude-opus-4-1-20250805", "claude-opus-4-1"),
      ("claude-opus-4-20250514", "claude-opus-4"), ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
      ("claude-sonnet-4-5@20250929", "claude-sonnet-4-5"), ("gemini-2.5-flash-001", "gemini-2.5-flash"),
      ("gemini-1.5-pro-002", "gemini-1.5-pro"), ("gemini-2.5-flash-lite-001", "gemini-2.5-flash-lite"),
      ("openai/gpt-4o", "gpt-4o"), ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
      ("google/gemini-2.5-pro", "gemini-2.5-pro"), ("models/gemini-2.5-flash-001", "gemini-2.5-flash"),
      ("GPT-4o", "gpt-4o"),
    ])
  func variants(model: String, base: String) throws {
    let fixture = try Fixture()
    let entry = try #require(try fixture.tokens(model, input: 2000, output: 1000).state.breakdown.first)
    #expect(entry.key == model)
    #expect(entry.priced)
    #expect(entry.attributes["pricedAs"] == base)
    // Priced exactly as the base model itself.
    let reference = try Fixture()
    let baseEntry = try #require(try reference.tokens(base, input: 2000, output: 1000).state.breakdown.first)
    #expect(baseEntry.attributes["pricedAs"] == base)
    #expect(baseEntry.cost > 0)
    #expect(close(entry.cost, baseEntry.cost))
  }

  @Test("a longer listed name is never priced as its shorter neighbour")
  func distinctModels() throws {
    func pricedAs(_ model: String) throws -> String? {
      try Fixture().tokens(model, input: 1_000_000, output: 0).state.breakdown.first?.attributes["pricedAs"]
    }
    func inputPrice(_ model: String) throws -> Double? {
      try Fixture().tokens(model, input: 1_000_000, output: 0).state.breakdown.first?.cost
    }
    #expect(try pricedAs("gpt-4o-mini") == "gpt-4o-mini")
    #expect(try inputPrice("gpt-4o-mini") == 0.15)
    #expect(try inputPrice("gpt-4o") == 2.50)
    #expect(try pricedAs("gpt-4.1-nano") == "gpt-4.1-nano")
    #expect(try pricedAs("gpt-4o") == "gpt-4o")
    #expect(try pricedAs("gemini-2.5-flash-lite") == "gemini-2.5-flash-lite")
    #expect(try pricedAs("o1-mini") == "o1-mini")
    #expect(try inputPrice("claude-opus-4-5") == 5.00)
  }

  @Test(
    "a suffix that could name another model is not priced as the listed one",
    arguments: ["gpt-5-pro", "o1-pro", "o3-pro", "claude-opus-4-7", "gpt-4o-mini-search", "gemini-2.5-pro-ultra"])
  func otherModelsStayUnpriced(model: String) throws {
    let fixture = try Fixture()
    let state = try fixture.tokens(model, input: 100, output: 100).state
    #expect(state.unpriced == [model])
    #expect(state.cost == 0)
  }

  @Test("snapshot words with a date price as the base model")
  func previewSnapshots() throws {
    for (model, base) in [
      ("gemini-2.5-pro-preview-05-06", "gemini-2.5-pro"), ("gemini-2.0-flash-exp", "gemini-2.0-flash"),
    ] {
      let entry = try Fixture().tokens(model, input: 10, output: 10).state.breakdown.first
      #expect(entry?.attributes["pricedAs"] == base)
    }
  }

  @Test(
    "a name that only starts like a listed one, without a separator, is unknown",
    arguments: ["gpt-4ox", "gpt-4.5", "gemini-2.5", "o3x-mini", "claude", "gpt-4o.1"])
  func notAnExtension(model: String) throws {
    let state = try Fixture().tokens(model, input: 10, output: 10).state
    #expect(state.unpriced == [model])
  }

  @Test("an unknown model is counted, costs nothing, and is listed as unpriced")
  func unknownModel() throws {
    let fixture = try Fixture()
    try fixture.tokens("gpt-4o", input: 100, output: 100)
    let result = try fixture.tokens("acme-llm-7b", input: 500, output: 250, provider: "acme")
    let state = result.state
    #expect(state.used == 950)
    #expect(close(state.cost, Self.expectedCost(input: 100, output: 100, (2.50, 10.00))))
    #expect(state.unpriced == ["acme-llm-7b"])
    let entry = try #require(state.breakdown.first { $0.key == "acme-llm-7b" })
    #expect(entry.amount == 750)
    #expect(entry.cost == 0)
    #expect(!entry.priced)
    #expect(entry.attributes == ["provider": "acme"])
  }

  @Test("an increment without a model label goes to an unpriced entry")
  func noModel() throws {
    let fixture = try Fixture()
    let state = try fixture.tokens(nil, input: 10, output: 5).state
    #expect(state.used == 15)
    #expect(state.unpriced == ["unknown"])
    #expect(state.cost == 0)
  }

  @Test("the hook measures directly: amount, cost, priced and attributes")
  func hook() throws {
    let pricing = try #require(try Fixture.standardPlugin("tokens").metrics(options: .null).first?.hook)
    let known = try pricing.measure(
      MeasureInput(fields: [1_000_000, 1_000_000], labels: ["model": "claude-haiku-4-5"]))
    #expect(
      known
        == Measurement(
          amount: 2_000_000, cost: 6.0, attributes: ["provider": "anthropic", "pricedAs": "claude-haiku-4-5"]))
    let relabelled = try pricing.measure(
      MeasureInput(fields: [10, 0], labels: ["model": "gpt-4o", "provider": "azure"]))
    #expect(relabelled.attributes["provider"] == "azure")
    let unknown = try pricing.measure(MeasureInput(fields: [3, 4], labels: ["model": "nope"]))
    #expect(unknown == Measurement(amount: 7, cost: 0, priced: false))
    let huge = try pricing.measure(MeasureInput(fields: [.max, .max], labels: ["model": "gpt-4o"]))
    #expect(huge.amount == .max)
  }

  @Test("a model measured again, after others or an unknown one, keeps its own price (the last match is reused)")
  func repeatedModels() throws {
    let pricing = try #require(try Fixture.standardPlugin("tokens").metrics(options: .null).first?.hook)
    func measure(_ model: String?) throws -> Measurement {
      try pricing.measure(MeasureInput(fields: [1_000_000, 0], labels: model.map { ["model": $0] } ?? [:]))
    }
    let sequence: [String?] = [
      "gpt-4o", "gpt-4o", "nope", "nope", "gpt-4o", "claude-haiku-4-5", nil, "gpt-4o", "GPT-4O",
    ]
    for model in sequence {
      let fresh = try #require(try Fixture.standardPlugin("tokens").metrics(options: .null).first?.hook)
      let expected = try fresh.measure(
        MeasureInput(fields: [1_000_000, 0], labels: model.map { ["model": $0] } ?? [:]))
      #expect(try measure(model) == expected, "\(model ?? "no model")")
    }
    #expect(try measure("gpt-4o").cost == 2.5)
    #expect(try measure("nope").priced == false)
  }

  @Test("missing input and output fields are refused, naming the field")
  func missingFields() throws {
    let fixture = try Fixture()
    let index = fixture.index("tokens")
    #expect(throws: UsageError.self) {
      try fixture.context.increment(metric: index, amount: nil, fields: [], labels: ["model": "gpt-4o"])
    }
    do {
      _ = try fixture.context.increment(metric: index, amount: 10, fields: [nil, nil], labels: ["model": "gpt-4o"])
      Issue.record("an increment without fields was accepted")
    } catch {
      guard case .invalidField(let field, _) = error else { throw error }
      #expect(field == "input")
    }
    #expect(fixture.state("tokens").used == 0)
    #expect(fixture.context.version == 0)
  }

  @Test("an amount that differs from input plus output is refused; an equal one is accepted")
  func mismatchedAmount() throws {
    let fixture = try Fixture()
    do {
      try fixture.tokens("gpt-4o", input: 100, output: 50, amount: 120)
      Issue.record("a mismatched amount was accepted")
    } catch {
      guard case .invalidField(let field, let reason) = error else { throw error }
      #expect(field == "amount")
      #expect(reason.contains("150"))
    }
    #expect(fixture.state("tokens").used == 0)
    #expect(try fixture.tokens("gpt-4o", input: 100, output: 50, amount: 150).state.used == 150)
  }

  @Test("configured prices override the table and add models; dated names follow the override")
  func priceOverrides() throws {
    let fixture = try Fixture(
      configuration: configuration([
        "plugins": [
          "tokens": [
            "prices": [
              "gpt-4o": ["input": 1.0, "output": 2.0],
              "Acme-Large": ["input": 4.0, "output": 8.0, "provider": "acme"],
              "house-model": ["input": 0.5, "output": 0.5],
            ]
          ]
        ]
      ]))
    let gpt = try #require(
      try fixture.tokens("gpt-4o-2024-08-06", input: 1_000_000, output: 500_000).state.breakdown.first)
    #expect(close(gpt.cost, 2.0))
    #expect(gpt.attributes["provider"] == "openai")
    let acme = try fixture.tokens("acme-large", input: 1000, output: 1000).state.breakdown.first {
      $0.key == "acme-large"
    }
    #expect(close(acme?.cost, 0.012))
    #expect(acme?.attributes["provider"] == "acme")
    let house = try fixture.tokens("house-model", input: 2_000_000, output: 0).state.breakdown.first {
      $0.key == "house-model"
    }
    #expect(close(house?.cost, 1.0))
    #expect(house?.attributes["provider"] == "custom")
    #expect(try fixture.tokens("claude-sonnet-4-5", input: 1_000_000, output: 0).state.breakdown.last?.cost == 3.0)
  }

  @Test("a configured currency is carried by the metric")
  func currency() throws {
    let fixture = try Fixture(configuration: configuration(["plugins": ["tokens": ["currency": "EUR"]]]))
    #expect(fixture.context.descriptor(at: fixture.index("tokens")).currency == "EUR")
    #expect(try fixture.tokens("gpt-4o", input: 1000, output: 0).state.currency == "EUR")
  }

  @Test("invalid token options are refused, naming the setting")
  func invalidOptions() throws {
    let cases: [(ConfigValue, String)] = [
      (["prices": ["gpt-4o": ["input": 1.0]]], "config.plugins.tokens.prices.gpt-4o"),
      (["prices": ["gpt-4o": ["input": -1.0, "output": 1.0]]], "config.plugins.tokens.prices.gpt-4o"),
      (["prices": ["gpt-4o": ["input": "1", "output": 1.0]]], "config.plugins.tokens.prices.gpt-4o"),
      (["prices": [1, 2]], "config.plugins.tokens.prices"),
      (["currency": ""], "config.plugins.tokens.currency"),
      (["currency": 978], "config.plugins.tokens.currency"),
      (["discount": 0.5], "config.plugins.tokens.discount"),
      ("cheap", "config.plugins.tokens"),
    ]
    for (options, field) in cases {
      do {
        _ = try Fixture.standardPlugin("tokens").metrics(options: options)
        Issue.record("accepted \(options)")
      } catch {
        guard case .invalidField(let named, _) = error else { throw error }
        #expect(named == field)
      }
    }
  }

  @Test("reset with a model shows that model from zero again; the total, fields and cost of the period stay")
  func resetOneModel() throws {
    let fixture = try Fixture()
    try fixture.tokens("gpt-4o", input: 1000, output: 500)
    try fixture.tokens("claude-sonnet-4-5", input: 2000, output: 100)
    try fixture.tokens("mystery", input: 30, output: 3)
    let index = fixture.index("tokens")
    let version = fixture.context.version
    let before = fixture.state("tokens")

    let result = try fixture.context.reset(metric: index, breakdownKey: "gpt-4o")
    let state = result.state
    #expect(state.used == 3633)
    #expect(state.fields.map(\.total) == [3030, 603, 0, 0])
    #expect(state.breakdown.map(\.key) == ["claude-sonnet-4-5", "mystery"])
    #expect(state.cost == before.cost)
    #expect(state.unpriced == ["mystery"])
    #expect(state.version == version + 1)

    let unknownKey = try fixture.context.reset(metric: index, breakdownKey: "gpt-4o")
    #expect(unknownKey.state.used == 3633)
    #expect(unknownKey.state.version == version + 1)

    // Counted again from zero under its model.
    try fixture.tokens("gpt-4o", input: 10, output: 5)
    let again = fixture.state("tokens")
    #expect(again.used == 3648)
    #expect(again.breakdown.first { $0.key == "gpt-4o" }?.amount == 15)
  }

  @Test("reset without a model zeroes everything")
  func resetAll() throws {
    let fixture = try Fixture()
    try fixture.tokens("gpt-4o", input: 1000, output: 500)
    try fixture.tokens("nope", input: 1, output: 1)
    let state = try fixture.context.reset(metric: fixture.index("tokens")).state
    #expect(state.used == 0)
    #expect(state.cost == 0)
    #expect(state.fields.map(\.total) == [0, 0, 0, 0])
    #expect(state.breakdown.isEmpty)
    #expect(state.unpriced.isEmpty)
    #expect(state.level == .ok)
  }

  @Test("a breakdown key on a metric without a breakdown is refused")
  func resetKeyWithoutBreakdown() throws {
    let fixture = try Fixture()
    try fixture.increment("documents", 3)
    #expect(throws: UsageError.self) {
      try fixture.context.reset(metric: fixture.index("documents"), breakdownKey: "x")
    }
    #expect(fixture.state("documents").used == 3)
  }
}
