import JSON
import UsageCore

/// What an exec plugin says about itself in answer to `plugin/describe`: its name and version, the metrics it
/// defines, and the metrics of other plugins whose authoritative value it holds (`sources`).
struct ExecDescription: Sendable, Equatable {
  var name: String
  var version: String
  var metrics: [MetricDescriptor]
  var sources: [String]
  /// The protocol version the program speaks (`protocolVersion` in its answer; 1 when it names none).
  var protocolVersion: Int64 = 1

  var metricNames: [String] { metrics.map(\.name) }

  /// Reads a `plugin/describe` result, checking every member; `plugin` is the name the manifest gives.
  /// `offered` is the highest version usagectx offered.
  static func parse(_ result: JSONData, plugin: String, offered: Int64) -> Result<ExecDescription, ProtocolViolation> {
    do throws(ProtocolViolation) {
      var description = try read(result, plugin: plugin)
      if let value = result["protocolVersion"] {
        guard let version = value.int, (1...offered).contains(version) else {
          throw ProtocolViolation("result.protocolVersion must be an integer from 1 to \(offered), the version offered")
        }
        description.protocolVersion = version
      }
      return .success(description)
    } catch {
      return .failure(error)
    }
  }

  private static func read(_ result: JSONData, plugin: String) throws(ProtocolViolation) -> ExecDescription {
    let members = try object(result, "result", known: ["name", "version", "metrics", "sources", "protocolVersion"])
    guard let name = members["name"]?.string, !name.isEmpty else {
      throw ProtocolViolation("result.name must be a non-empty string")
    }
    guard name == plugin else {
      throw ProtocolViolation("result.name is \(name), but the manifest names the plugin \(plugin)")
    }
    guard let version = members["version"]?.string else {
      throw ProtocolViolation("result.version must be a string")
    }
    guard let list = members["metrics"]?.array else { throw ProtocolViolation("result.metrics must be an array") }
    var metrics: [MetricDescriptor] = []
    for (index, element) in list.enumerated() {
      let metric = try descriptor(element, path: "result.metrics[\(index)]")
      guard !metrics.contains(where: { $0.name == metric.name }) else {
        throw ProtocolViolation("result.metrics declares \(metric.name) twice")
      }
      metrics.append(metric)
    }
    var sources: [String] = []
    if let value = members["sources"] {
      guard let names = value.array?.compactMap(\.string), names.count == value.array?.count else {
        throw ProtocolViolation("result.sources must be an array of metric names")
      }
      for source in names {
        guard !source.isEmpty, !sources.contains(source) else {
          throw ProtocolViolation("result.sources holds an empty or repeated name")
        }
        guard !metrics.contains(where: { $0.name == source }) else {
          throw ProtocolViolation("result.sources names \(source), which the plugin itself defines")
        }
        sources.append(source)
      }
    }
    return ExecDescription(name: name, version: version, metrics: metrics, sources: sources)
  }

  /// A `MetricDescriptorJSON`.
  private static func descriptor(_ value: JSONData, path: String) throws(ProtocolViolation) -> MetricDescriptor {
    let members = try object(
      value, path,
      known: ["name", "unit", "kind", "limits", "period", "thresholds", "fields", "breakdownLabel", "currency"])
    guard let name = members["name"]?.string, !name.isEmpty else {
      throw ProtocolViolation("\(path).name must be a non-empty string")
    }
    func text(_ key: String) throws(ProtocolViolation) -> String? {
      guard let value = members[key] else { return nil }
      guard let string = value.string, !string.isEmpty else {
        throw ProtocolViolation("\(path).\(key) must be a non-empty string")
      }
      return string
    }
    guard let limitsValue = members["limits"] else { throw ProtocolViolation("\(path).limits is missing") }
    let limitMembers = try object(limitsValue, "\(path).limits", known: ["free", "pro", "ultra"])
    func limit(_ tier: String) throws(ProtocolViolation) -> Int64? {
      guard let value = limitMembers[tier] else {
        throw ProtocolViolation("\(path).limits.\(tier) is missing (null means unlimited)")
      }
      if value == .null { return nil }
      guard value.number != nil, let count = value.int, count >= 0 else {
        throw ProtocolViolation("\(path).limits.\(tier) must be a non-negative integer or null")
      }
      return count
    }
    var period = Period.unlimited
    if let periodName = try text("period") {
      guard let known = Period(rawValue: periodName) else {
        throw ProtocolViolation("\(path).period must be one of daily, monthly, unlimited")
      }
      period = known
    }
    var thresholds = Thresholds()
    if let value = members["thresholds"] {
      let ratios = try object(value, "\(path).thresholds", known: ["warning", "exceeded"])
      for (key, ratio) in ratios {
        guard let number = ratio.number, number.isFinite, number > 0 else {
          throw ProtocolViolation("\(path).thresholds.\(key) must be a positive number")
        }
        if key == "warning" { thresholds.warning = number } else { thresholds.exceeded = number }
      }
    }
    var fields: [String] = []
    if let value = members["fields"] {
      guard let names = value.array?.compactMap(\.string), names.count == value.array?.count,
        names.allSatisfy({ !$0.isEmpty }), Set(names).count == names.count
      else { throw ProtocolViolation("\(path).fields must be an array of distinct non-empty strings") }
      fields = names
    }
    return MetricDescriptor(
      name: name, unit: try text("unit") ?? name, kind: MetricKind(rawValue: try text("kind") ?? "count"),
      limits: TierLimits(free: try limit("free"), pro: try limit("pro"), ultra: try limit("ultra")),
      period: period, thresholds: thresholds, fields: fields, breakdownLabel: try text("breakdownLabel"),
      currency: try text("currency"))
  }

  /// The members of an object, refusing other values and unknown members.
  private static func object(
    _ value: JSONData, _ path: String, known: [String]
  ) throws(ProtocolViolation) -> [String: JSONData] {
    guard let list = value.objectMembers else { throw ProtocolViolation("\(path) must be an object") }
    var members: [String: JSONData] = [:]
    for (key, member) in list {
      guard known.contains(key) else {
        throw ProtocolViolation("\(path).\(key) is not a known member (known: \(known.joined(separator: ", ")))")
      }
      members[key] = member
    }
    return members
  }
}
