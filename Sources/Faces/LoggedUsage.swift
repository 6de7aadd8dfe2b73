public import UsageCore

/// One model call's tokens as an LLM tool logged it, ready to be counted in the tokens metric.
public struct LoggedUsage: Sendable, Equatable {
  /// What identifies the call across imports (`claude:<message id>:<request id>`, `codex:<session>:<total>`).
  public var key: String
  public var at: Timestamp
  public var model: String
  public var provider: String
  /// The tool's session.
  public var conversation: String?
  /// The tool that logged it: `claude-code` or `codex`.
  public var tool: String
  /// Input tokens not read from the prompt cache.
  public var input: Int64
  public var output: Int64
  public var cacheRead: Int64
  public var cacheWrite: Int64

  public init(
    key: String, at: Timestamp, model: String, provider: String, conversation: String?, tool: String, input: Int64,
    output: Int64, cacheRead: Int64 = 0, cacheWrite: Int64 = 0
  ) {
    self.key = key
    self.at = at
    self.model = model
    self.provider = provider
    self.conversation = conversation
    self.tool = tool
    self.input = input
    self.output = output
    self.cacheRead = cacheRead
    self.cacheWrite = cacheWrite
  }

  /// All its tokens.
  public var tokens: Int64 { input &+ output &+ cacheRead &+ cacheWrite }

  /// The labels the change is recorded with.
  public var labels: [String: String] {
    var labels = ["model": model, "provider": provider, "tool": tool]
    labels["conversation"] = conversation
    return labels
  }

  /// Reads the ISO 8601 times tools write (`2025-09-01T10:00:00.123456Z`): fractions past milliseconds are cut.
  static func moment(_ text: String?) -> Timestamp? {
    guard let text else { return nil }
    if let moment = Timestamp(iso8601: text) { return moment }
    guard let dot = text.firstIndex(of: "."), text.hasSuffix("Z") else { return nil }
    let fraction = text[text.index(after: dot)..<text.index(before: text.endIndex)]
    return Timestamp(iso8601: String(text[..<dot]) + "." + String((fraction + "000").prefix(3)) + "Z")
  }
}

/// What reading one line of a log gave.
public enum LogLine: Sendable, Equatable {
  /// A model call's usage.
  case usage(LoggedUsage)
  /// A line without usage (a user message, a tool result, a line setting the model).
  case other
  /// Not JSON, or usage that cannot be read.
  case malformed
}
