public import UsageCore

/// The `storage` metric: bytes stored.
public struct StoragePlugin: MetricPlugin {
  public init() {}

  public var info: PluginInfo { PluginInfo(name: "storage", version: "1.0.0") }

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    try options.expectNoOptions(plugin: info.name)
    let mebibyte: Int64 = 1 << 20
    let descriptor = MetricDescriptor(
      name: "storage", unit: "bytes", kind: .bytes,
      limits: TierLimits(free: 100 * mebibyte, pro: 10 * 1024 * mebibyte, ultra: 100 * 1024 * mebibyte))
    return [MetricDefinition(descriptor: descriptor)]
  }
}
