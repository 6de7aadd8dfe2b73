public import UsageCore

/// The `documents` metric: how many documents the person has.
public struct DocumentsPlugin: MetricPlugin {
  public init() {}

  public var info: PluginInfo { PluginInfo(name: "documents", version: "1.0.0") }

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    try options.expectNoOptions(plugin: info.name)
    let descriptor = MetricDescriptor(
      name: "documents", unit: "documents", kind: .count,
      limits: TierLimits(free: 100, pro: 10_000, ultra: nil))
    return [MetricDefinition(descriptor: descriptor)]
  }
}
