public import RefreshScheduler
public import UsageCore

/// Reads the `refresh` settings of a configuration into one ``RefreshPolicy`` per metric: the defaults, then
/// `config.refresh`, then `config.metrics.<name>.refresh`. Durations are milliseconds.
///
/// | member | type | default |
/// | --- | --- | --- |
/// | `intervalMs` | integer ≥ 1, or `null` for no periodic refresh | 300000 |
/// | `refreshWhileHidden` | boolean | false |
/// | `refreshWhileOffline` | boolean | false |
/// | `refreshOnFocus` | boolean | true |
/// | `focusThrottleMs` | integer ≥ 0 | 5000 |
/// | `minimumUnfocusedMs` | integer ≥ 0 | 1000 |
/// | `mutationDebounceMs` | integer ≥ 0 | 1000 |
/// | `mutationMaxWaitMs` | integer ≥ 0, or `null` for none | null |
/// | `dedupeWindowMs` | integer ≥ 0 | 2000 |
/// | `backoffBaseMs` | integer ≥ 0 | 1000 |
/// | `backoffCapMs` | integer ≥ `backoffBaseMs` | 300000 |
public enum RefreshSettings {
  /// Every member a `refresh` section may have.
  public static let members = [
    "intervalMs", "refreshWhileHidden", "refreshWhileOffline", "refreshOnFocus", "focusThrottleMs",
    "minimumUnfocusedMs", "mutationDebounceMs", "mutationMaxWaitMs", "dedupeWindowMs", "backoffBaseMs",
    "backoffCapMs",
  ]

  /// The policy of `config.refresh` alone, without any metric's own settings.
  public static func globalPolicy(_ configuration: UsageConfiguration) throws(UsageError) -> RefreshPolicy {
    var policy = RefreshPolicy()
    try apply(configuration.refresh, to: &policy, path: "config.refresh")
    return policy
  }

  /// The policy of each of `metrics`, in order.
  /// - Throws: ``UsageError/invalidField(field:reason:)`` naming the offending setting.
  public static func policies(_ configuration: UsageConfiguration, metrics: [String]) throws(UsageError)
    -> [RefreshPolicy]
  {
    let global = try globalPolicy(configuration)
    var result: [RefreshPolicy] = []
    for name in metrics {
      var policy = global
      if let settings = configuration.metrics[name]?.refresh, !settings.isEmpty {
        try apply(settings, to: &policy, path: "config.metrics.\(name).refresh")
      }
      result.append(policy)
    }
    return result
  }

  private static func apply(
    _ settings: [String: ConfigValue], to policy: inout RefreshPolicy, path: String
  ) throws(UsageError) {
    for (key, value) in settings.sorted(by: { $0.key < $1.key }) {
      let field = "\(path).\(key)"
      switch key {
      case "intervalMs":
        policy.interval = value.isNull ? nil : try duration(value, field: field, minimum: 1)
      case "refreshWhileHidden": policy.refreshWhileHidden = try flag(value, field: field)
      case "refreshWhileOffline": policy.refreshWhileOffline = try flag(value, field: field)
      case "refreshOnFocus": policy.refreshOnFocus = try flag(value, field: field)
      case "focusThrottleMs": policy.focusThrottle = try duration(value, field: field)
      case "minimumUnfocusedMs": policy.minimumUnfocused = try duration(value, field: field)
      case "mutationDebounceMs": policy.mutationDebounce = try duration(value, field: field)
      case "mutationMaxWaitMs": policy.mutationMaxWait = value.isNull ? nil : try duration(value, field: field)
      case "dedupeWindowMs": policy.dedupeWindow = try duration(value, field: field)
      case "backoffBaseMs": policy.backoff.base = try duration(value, field: field)
      case "backoffCapMs": policy.backoff.cap = try duration(value, field: field)
      default:
        throw .invalidField(
          field: field, reason: "is not a refresh setting (known: \(members.joined(separator: ", ")))")
      }
    }
    if policy.backoff.cap < policy.backoff.base {
      throw .invalidField(
        field: "\(path).backoffCapMs",
        reason: "must be at least backoffBaseMs (\(policy.backoff.base)), not \(policy.backoff.cap)")
    }
  }

  /// Durations up to 30 days.
  private static func duration(_ value: ConfigValue, field: String, minimum: Int64 = 0) throws(UsageError) -> Int64 {
    guard let count = value.count, count >= minimum, count <= 2_592_000_000 else {
      throw .invalidField(
        field: field, reason: "must be an integer number of milliseconds from \(minimum) to 2592000000")
    }
    return count
  }

  private static func flag(_ value: ConfigValue, field: String) throws(UsageError) -> Bool {
    guard case .bool(let flag) = value else { throw .invalidField(field: field, reason: "must be true or false") }
    return flag
  }
}
