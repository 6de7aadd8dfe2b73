import CUsagePlugin
import UsageCore

/// Reads a plugin's C metric description into the core's descriptor, checking every field.
enum PluginDescriptor {
  struct Described {
    var descriptor: MetricDescriptor
    var measures: Bool
    var fetches: Bool
  }

  static func read(_ metric: UnsafePointer<usagectx_metric>, plugin: String) throws(UsageError) -> Described {
    let size = UnsafeRawPointer(metric).load(as: UInt32.self)
    guard size >= UInt32(MemoryLayout<usagectx_metric>.size) else {
      throw .invalidField(
        field: "plugins.\(plugin)", reason: "metric struct is \(size) bytes, smaller than ABI 1 requires")
    }
    let value = metric.pointee
    func text(_ pointer: UnsafePointer<CChar>?) -> String? { pointer.map(String.init(cString:)) }
    guard let name = text(value.name), !name.isEmpty else {
      throw .invalidField(field: "plugins.\(plugin)", reason: "a metric has no name")
    }
    let path = "plugins.\(plugin).\(name)"
    func limit(_ raw: Int64, _ tier: String) throws(UsageError) -> Int64? {
      if raw == Int64(USAGECTX_UNLIMITED) { return nil }
      guard raw >= 0 else { throw .invalidField(field: path, reason: "limit for \(tier) is negative") }
      return raw
    }
    let periodName = text(value.period) ?? "unlimited"
    guard let period = Period(rawValue: periodName) else {
      throw .invalidField(field: path, reason: "period \(periodName) is not daily, monthly or unlimited")
    }
    var fields: [String] = []
    if let list = value.fields {
      for position in 0..<Int(value.field_count) {
        guard let field = text(list[position]), !field.isEmpty else {
          throw .invalidField(field: path, reason: "field \(position) has no name")
        }
        fields.append(field)
      }
    }
    let warning = value.warning_ratio > 0 ? value.warning_ratio : 0.8
    let exceeded = value.exceeded_ratio > 0 ? value.exceeded_ratio : 1.0
    guard warning.isFinite, exceeded.isFinite else {
      throw .invalidField(field: path, reason: "thresholds must be finite")
    }
    let descriptor = MetricDescriptor(
      name: name, unit: text(value.unit) ?? name, kind: MetricKind(rawValue: text(value.kind) ?? "count"),
      limits: TierLimits(
        free: try limit(value.limit_free, "free"), pro: try limit(value.limit_pro, "pro"),
        ultra: try limit(value.limit_ultra, "ultra")),
      period: period, thresholds: Thresholds(warning: warning, exceeded: exceeded), fields: fields,
      breakdownLabel: text(value.breakdown_label), currency: text(value.currency))
    return Described(
      descriptor: descriptor,
      measures: value.flags & USAGECTX_METRIC_MEASURES.rawValue != 0,
      fetches: value.flags & USAGECTX_METRIC_FETCHES.rawValue != 0)
  }

  /// A plugin's refusal of its options. Plugins name the offending setting as `config.plugins.NAME.…: reason`;
  /// that path becomes the error's field.
  static func optionsError(_ message: String, plugin: String) -> UsageError {
    // Split at the first ": " (a model key such as gpt-4o:2024-08-06 may hold a colon).
    if message.hasPrefix("config."), let separator = message.firstRange(of: ": ") {
      return .invalidField(
        field: String(message[..<separator.lowerBound]), reason: String(message[separator.upperBound...]))
    }
    return .invalidField(field: "config.plugins.\(plugin)", reason: message)
  }
}
