/// How the context is set up: the tier, per-metric overrides, and each plugin's own options.
///
/// Read from a configuration value shaped like
/// `{"tier": "pro", "metrics": {"requests": {"limits": {"free": 100}, "period": "daily", "warning": 0.8}},
///   "plugins": {"tokens": {"prices": {...}}}, "refresh": {"intervalMs": 60000}}`; every part is optional.
///
/// The `refresh` settings (for every metric, and per metric under `metrics.<name>.refresh`) are kept as given, merged
/// member by member; whoever schedules refreshes reads and checks them.
public struct UsageConfiguration: Sendable, Equatable {
  /// Overrides for one metric; `nil` members keep the plugin's defaults.
  public struct MetricOverride: Sendable, Equatable {
    /// Limits per tier; a tier present with `nil` means unlimited.
    public var limits: [Tier: Int64?] = [:]
    public var period: Period?
    public var warning: Double?
    public var exceeded: Double?
    /// This metric's refresh settings, over the global ones.
    public var refresh: [String: ConfigValue] = [:]
    public init() {}
  }

  public var tier: Tier = .free
  public var metrics: [String: MetricOverride] = [:]
  /// Each plugin's section, by plugin name.
  public var plugins: [String: ConfigValue] = [:]
  /// Refresh settings for every metric, by member.
  public var refresh: [String: ConfigValue] = [:]
  /// The shared authority (`authority.postgres`), when one is configured.
  public var sharedAuthority: SharedAuthority?

  public init() {}

  /// Reads a configuration value; errors name the offending field by its path.
  public init(_ value: ConfigValue) throws(UsageError) {
    self.init()
    try merge(value)
  }

  /// Applies the parts present in `value` over this configuration (used for `initialize` overrides).
  public mutating func merge(_ value: ConfigValue) throws(UsageError) {
    guard let members = value.objectMembers else {
      if value.isNull { return }
      throw .invalidField(field: "config", reason: "must be an object")
    }
    for (key, member) in members {
      switch key {
      case "tier":
        guard let name = member.string, let tier = Tier(rawValue: name) else {
          throw .invalidField(field: "config.tier", reason: "must be one of free, pro, ultra")
        }
        self.tier = tier
      case "metrics":
        guard let overrides = member.objectMembers else {
          throw .invalidField(field: "config.metrics", reason: "must be an object")
        }
        for (name, override) in overrides {
          var current = metrics[name] ?? MetricOverride()
          try Self.merge(override, into: &current, path: "config.metrics.\(name)")
          metrics[name] = current
        }
      case "plugins":
        guard let sections = member.objectMembers else {
          throw .invalidField(field: "config.plugins", reason: "must be an object")
        }
        for (name, section) in sections { plugins[name] = section }
      case "refresh":
        try Self.merge(refresh: member, into: &refresh, path: "config.refresh")
      case "authority":
        sharedAuthority = try Self.authority(member, over: sharedAuthority)
      default:
        throw .invalidField(field: "config.\(key)", reason: "is not a known setting")
      }
    }
  }

  private static func merge(_ value: ConfigValue, into override: inout MetricOverride, path: String) throws(UsageError)
  {
    guard let members = value.objectMembers else { throw .invalidField(field: path, reason: "must be an object") }
    for (key, member) in members {
      switch key {
      case "limits":
        guard let limits = member.objectMembers else {
          throw .invalidField(field: "\(path).limits", reason: "must be an object")
        }
        for (tierName, limit) in limits {
          guard let tier = Tier(rawValue: tierName) else {
            throw .invalidField(field: "\(path).limits.\(tierName)", reason: "is not a tier (free, pro, ultra)")
          }
          if limit.isNull {
            override.limits[tier] = .some(nil)
          } else if let count = limit.count {
            override.limits[tier] = count
          } else {
            throw .invalidField(field: "\(path).limits.\(tierName)", reason: "must be a non-negative integer or null")
          }
        }
      case "period":
        guard let name = member.string, let period = Period(rawValue: name) else {
          throw .invalidField(field: "\(path).period", reason: "must be one of daily, monthly, unlimited")
        }
        override.period = period
      case "warning", "exceeded":
        guard let ratio = member.number, ratio.isFinite, ratio > 0 else {
          throw .invalidField(field: "\(path).\(key)", reason: "must be a positive number")
        }
        if key == "warning" { override.warning = ratio } else { override.exceeded = ratio }
      case "refresh":
        try merge(refresh: member, into: &override.refresh, path: "\(path).refresh")
      default:
        throw .invalidField(field: "\(path).\(key)", reason: "is not a known setting")
      }
    }
  }

  private static func merge(
    refresh value: ConfigValue, into settings: inout [String: ConfigValue], path: String
  ) throws(UsageError) {
    guard let members = value.objectMembers else { throw .invalidField(field: path, reason: "must be an object") }
    settings.merge(members) { _, new in new }
  }

  /// `descriptor` with this configuration's overrides applied.
  public func apply(to descriptor: MetricDescriptor) -> MetricDescriptor {
    guard let override = metrics[descriptor.name] else { return descriptor }
    var result = descriptor
    for (tier, limit) in override.limits { result.limits[tier] = limit }
    if let period = override.period { result.period = period }
    if let warning = override.warning { result.thresholds.warning = warning }
    if let exceeded = override.exceeded { result.thresholds.exceeded = exceeded }
    return result
  }
}
