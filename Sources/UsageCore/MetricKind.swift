/// What a metric counts. Open: plugins may name kinds of their own.
public struct MetricKind: RawRepresentable, Hashable, Sendable {
  public let rawValue: String
  public init(rawValue: String) { self.rawValue = rawValue }

  /// A number of things (documents, seats).
  public static let count = MetricKind(rawValue: "count")
  /// A size in bytes.
  public static let bytes = MetricKind(rawValue: "bytes")
  /// A number of requests in a period.
  public static let requests = MetricKind(rawValue: "requests")
  /// Language-model tokens, with cost.
  public static let tokens = MetricKind(rawValue: "tokens")
}
