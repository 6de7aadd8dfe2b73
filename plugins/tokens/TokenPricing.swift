public import UsageCore

/// Prices a tokens increment: amount = input + output, cost from the model's prices. An unknown model is counted
/// and priced at zero, and the measurement says it was not priced.
public struct TokenPricing: MeasureHook {
  public let table: PriceTable

  public init(table: PriceTable) { self.table = table }

  public func measure(_ input: MeasureInput) -> Measurement {
    let inputTokens = input.fields.count > 0 ? input.fields[0] : 0
    let outputTokens = input.fields.count > 1 ? input.fields[1] : 0
    let (amount, overflow) = inputTokens.addingReportingOverflow(outputTokens)
    let total = overflow ? Int64.max : amount
    guard let model = input.labels["model"], let match = table.price(for: model) else {
      var attributes: [String: String] = [:]
      if let provider = input.labels["provider"] { attributes["provider"] = provider }
      return Measurement(amount: total, cost: 0, priced: false, attributes: attributes)
    }
    let cost = (Double(inputTokens) * match.price.input + Double(outputTokens) * match.price.output) / 1_000_000
    return Measurement(
      amount: total, cost: cost, priced: true,
      attributes: ["provider": input.labels["provider"] ?? match.price.provider, "pricedAs": match.model])
  }
}
