/// Per-model prices of language-model tokens, in US dollars per million tokens.
///
/// The shipped table lists the widely used OpenAI, Anthropic and Google models at their published standard
/// (non-batch, non-cached, base context) prices; configuration can add models or override prices. Model names are
/// matched exactly, then by the longest listed name that the model's name extends with a version suffix only
/// (`gpt-4o-2024-08-06` → `gpt-4o`, `claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`,
/// `gemini-1.5-pro-002` → `gemini-1.5-pro`, `claude-3-5-sonnet-latest` → `claude-3-5-sonnet`); a `provider/`
/// prefix is ignored. A suffix that could name another model (`gpt-5-pro`, `claude-opus-4-7`) does not match:
/// such a model is counted unpriced rather than priced wrongly.
public struct PriceTable: Sendable, Equatable {
  /// One model's prices.
  public struct Price: Sendable, Equatable {
    public var provider: String
    /// Dollars per million input (prompt) tokens.
    public var input: Double
    /// Dollars per million output (completion) tokens.
    public var output: Double
    public init(provider: String, input: Double, output: Double) {
      self.provider = provider
      self.input = input
      self.output = output
    }
  }

  public private(set) var prices: [String: Price]
  /// The currency of every price.
  public var currency: String
  /// When the shipped prices were last checked.
  public static let asOf = "2025-11"

  public init(prices: [String: Price], currency: String = "USD") {
    self.prices = prices
    self.currency = currency
  }

  /// Adds or replaces a model's prices.
  public mutating func set(_ model: String, _ price: Price) {
    prices[model.lowercased()] = price
  }

  /// The prices for `model`, or `nil` when the table does not know it.
  public func price(for model: String) -> (model: String, price: Price)? {
    var name = model.lowercased()
    if let slash = name.lastIndex(of: "/") { name = String(name[name.index(after: slash)...]) }
    if let exact = prices[name] { return (name, exact) }
    var best: (model: String, price: Price)?
    for (listed, price) in prices where name.count > listed.count && name.hasPrefix(listed) {
      let boundary = name.index(name.startIndex, offsetBy: listed.count)
      guard "-@:".contains(name[boundary]), Self.isVersionSuffix(name[name.index(after: boundary)...]) else { continue }
      if listed.count > (best?.model.count ?? 0) { best = (listed, price) }
    }
    return best
  }

  /// `true` for what providers append to name a snapshot of the same model: a date or build number
  /// (`2024-08-06`, `20250929`, `002`), optionally after `latest`, `preview` or `exp`.
  static func isVersionSuffix(_ suffix: Substring) -> Bool {
    let words: Set<Substring> = ["latest", "preview", "exp"]
    let parts = suffix.split(separator: "-", omittingEmptySubsequences: false)
    guard !parts.isEmpty else { return false }
    var digits = 0
    var named = false
    for part in parts {
      if words.contains(part) {
        named = true
      } else if !part.isEmpty, part.allSatisfy(\.isASCIIDigitCharacter) {
        digits += part.count
      } else {
        return false
      }
    }
    // A lone short number is more likely another model's version (claude-opus-4-7) than a snapshot.
    return named || digits >= 3
  }

  /// The table shipped with usagectx.
  public static let standard = PriceTable(prices: [
    // OpenAI
    "gpt-5": Price(provider: "openai", input: 1.25, output: 10.00),
    "gpt-5-mini": Price(provider: "openai", input: 0.25, output: 2.00),
    "gpt-5-nano": Price(provider: "openai", input: 0.05, output: 0.40),
    "gpt-4.1": Price(provider: "openai", input: 2.00, output: 8.00),
    "gpt-4.1-mini": Price(provider: "openai", input: 0.40, output: 1.60),
    "gpt-4.1-nano": Price(provider: "openai", input: 0.10, output: 0.40),
    "gpt-4o": Price(provider: "openai", input: 2.50, output: 10.00),
    "gpt-4o-mini": Price(provider: "openai", input: 0.15, output: 0.60),
    "gpt-4-turbo": Price(provider: "openai", input: 10.00, output: 30.00),
    "gpt-4": Price(provider: "openai", input: 30.00, output: 60.00),
    "gpt-3.5-turbo": Price(provider: "openai", input: 0.50, output: 1.50),
    "o1": Price(provider: "openai", input: 15.00, output: 60.00),
    "o1-mini": Price(provider: "openai", input: 1.10, output: 4.40),
    "o3": Price(provider: "openai", input: 2.00, output: 8.00),
    "o3-mini": Price(provider: "openai", input: 1.10, output: 4.40),
    "o4-mini": Price(provider: "openai", input: 1.10, output: 4.40),
    // Anthropic
    "claude-opus-4-5": Price(provider: "anthropic", input: 5.00, output: 25.00),
    "claude-opus-4-1": Price(provider: "anthropic", input: 15.00, output: 75.00),
    "claude-opus-4": Price(provider: "anthropic", input: 15.00, output: 75.00),
    "claude-sonnet-4-5": Price(provider: "anthropic", input: 3.00, output: 15.00),
    "claude-sonnet-4": Price(provider: "anthropic", input: 3.00, output: 15.00),
    "claude-haiku-4-5": Price(provider: "anthropic", input: 1.00, output: 5.00),
    "claude-3-7-sonnet": Price(provider: "anthropic", input: 3.00, output: 15.00),
    "claude-3-5-sonnet": Price(provider: "anthropic", input: 3.00, output: 15.00),
    "claude-3-5-haiku": Price(provider: "anthropic", input: 0.80, output: 4.00),
    "claude-3-opus": Price(provider: "anthropic", input: 15.00, output: 75.00),
    "claude-3-haiku": Price(provider: "anthropic", input: 0.25, output: 1.25),
    // Google
    "gemini-2.5-pro": Price(provider: "google", input: 1.25, output: 10.00),
    "gemini-2.5-flash": Price(provider: "google", input: 0.30, output: 2.50),
    "gemini-2.5-flash-lite": Price(provider: "google", input: 0.10, output: 0.40),
    "gemini-2.0-flash": Price(provider: "google", input: 0.10, output: 0.40),
    "gemini-2.0-flash-lite": Price(provider: "google", input: 0.075, output: 0.30),
    "gemini-1.5-pro": Price(provider: "google", input: 1.25, output: 5.00),
    "gemini-1.5-flash": Price(provider: "google", input: 0.075, output: 0.30),
  ])
}

extension Character {
  fileprivate var isASCIIDigitCharacter: Bool { isASCII && isNumber }
}
