public import UsageCore

/// The `requests` metric: requests made in the current period (daily by default; monthly by configuration).
public struct RequestsPlugin: MetricPlugin {
  public init() {}

  public var info: PluginInfo { PluginInfo(name: "requests", version: "1.0.0") }

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    try options.expectNoOptions(plugin: info.name)
    let descriptor = MetricDescriptor(
      name: "requests", unit: "requests", kind: .requests,
      limits: TierLimits(free: 100, pro: 5_000, ultra: 50_000), period: .daily)
    return [MetricDefinition(descriptor: descriptor)]
  }
}
