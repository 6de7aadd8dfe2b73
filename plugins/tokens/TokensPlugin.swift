public import UsageCore

/// The `tokens` metric: language-model tokens this month, split by model, with their cost.
///
/// Options (`config.plugins.tokens`): `prices` — `{"model": {"input": dollars, "output": dollars, "provider": …}}`
/// per million tokens, added to or overriding the shipped table — and `currency`.
public struct TokensPlugin: MetricPlugin {
  public init() {}

  public var info: PluginInfo { PluginInfo(name: "tokens", version: "1.0.0") }

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    let table = try Self.priceTable(options)
    let descriptor = MetricDescriptor(
      name: "tokens", unit: "tokens", kind: .tokens,
      limits: TierLimits(free: 100_000, pro: 5_000_000, ultra: 50_000_000), period: .monthly,
      fields: ["input", "output"], breakdownLabel: "model", currency: table.currency)
    return [MetricDefinition(descriptor: descriptor, hook: TokenPricing(table: table))]
  }

  static func priceTable(_ options: ConfigValue) throws(UsageError) -> PriceTable {
    var table = PriceTable.standard
    guard !options.isNull else { return table }
    guard let members = options.objectMembers else {
      throw .invalidField(field: "config.plugins.tokens", reason: "must be an object")
    }
    for (key, value) in members {
      let path = "config.plugins.tokens.\(key)"
      switch key {
      case "currency":
        guard let currency = value.string, !currency.isEmpty else { throw .invalidField(field: path, reason: "must be a string") }
        table.currency = currency
      case "prices":
        guard let models = value.objectMembers else { throw .invalidField(field: path, reason: "must be an object") }
        for (model, entry) in models {
          let entryPath = "\(path).\(model)"
          guard let input = entry["input"]?.number, let output = entry["output"]?.number,
            input.isFinite, output.isFinite, input >= 0, output >= 0
          else {
            throw .invalidField(field: entryPath, reason: "needs input and output prices (non-negative numbers)")
          }
          let provider = entry["provider"]?.string ?? table.price(for: model)?.price.provider ?? "custom"
          table.set(model, PriceTable.Price(provider: provider, input: input, output: output))
        }
      default:
        throw .invalidField(field: path, reason: "is not a known setting")
      }
    }
    return table
  }
}
