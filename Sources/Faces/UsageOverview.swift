public import JSON

/// The metrics of a snapshot (`usage/get`, `usage/subscribe`), in name order, updated by `usage/changed`.
public struct UsageOverview: Sendable, Equatable {
  public var version: Int64
  public var tier: String
  public var metrics: [MetricSummary]

  public init(version: Int64 = 0, tier: String = "", metrics: [MetricSummary] = []) {
    self.version = version
    self.tier = tier
    self.metrics = metrics
  }

  /// Reads `{version, tier, metrics: {name: MetricState}}`.
  public init?(_ snapshot: JSONData) {
    guard let members = snapshot["metrics"]?.objectMembers else { return nil }
    version = snapshot["version"]?.int ?? 0
    tier = snapshot["tier"]?.string ?? ""
    metrics = members.compactMap { MetricSummary($0.1) }.sorted { $0.name < $1.name }
  }

  /// Applies `usage/changed` params (`{version, metrics: {name: MetricState}}`): the metrics it carries replace
  /// those of the same name.
  public mutating func apply(changed params: JSONData) {
    if let version = params["version"]?.int { self.version = max(self.version, version) }
    for (_, state) in params["metrics"]?.objectMembers ?? [] {
      guard let summary = MetricSummary(state) else { continue }
      if let index = metrics.firstIndex(where: { $0.name == summary.name }) {
        metrics[index] = summary
      } else {
        metrics.append(summary)
        metrics.sort { $0.name < $1.name }
      }
    }
  }

  /// The worst level of `metrics` (all when empty).
  public func level(of names: [String] = []) -> UsageLevel {
    metrics.filter { names.isEmpty || names.contains($0.name) }.map(\.level).max() ?? .ok
  }
}
