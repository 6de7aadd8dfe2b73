/// A configuration value, as read from a configuration file or from `initialize`, independent of any JSON library.
public indirect enum ConfigValue: Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([ConfigValue])
  case object([String: ConfigValue])

  public subscript(key: String) -> ConfigValue? {
    guard case .object(let members) = self else { return nil }
    return members[key]
  }

  public var isNull: Bool { self == .null }

  public var objectMembers: [String: ConfigValue]? {
    if case .object(let members) = self { return members }
    return nil
  }

  public var string: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  public var number: Double? {
    if case .number(let value) = self { return value }
    return nil
  }

  /// The value as a non-negative integer, if it is one.
  public var count: Int64? {
    guard case .number(let value) = self, value.isFinite, value >= 0, value == value.rounded(),
      value <= 9_007_199_254_740_991
    else { return nil }
    return Int64(value)
  }

  /// A short name of the value's type, for error messages.
  public var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "boolean"
    case .number: return "number"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }
}

extension ConfigValue {
  /// For plugins without options: accepts `null` or `{}`, and names the first unknown setting otherwise.
  public func expectNoOptions(plugin: String) throws(UsageError) {
    switch self {
    case .null: return
    case .object(let members) where members.isEmpty: return
    case .object(let members):
      throw .invalidField(
        field: "config.plugins.\(plugin).\(members.keys.sorted()[0])", reason: "is not a known setting")
    default:
      throw .invalidField(field: "config.plugins.\(plugin)", reason: "must be an object")
    }
  }
}
