import JSON
import JSONRPC

/// Reads a method's named parameters, refusing what the method does not accept.
///
/// Every refusal is a -32602 whose `data.field` names the offending parameter.
struct Params {
  /// The params object, or `nil` when the request had none.
  let object: JSONValue?

  /// Checks that params are absent or an object whose members are all in `allowed` (or accepted by `alsoAllowed`).
  init(
    _ context: RequestContext, allowed: [StaticString], alsoAllowed: (UnsafeRawBufferPointer) -> Bool = { _ in false }
  ) throws(RPCError) {
    guard let params = context.params else {
      object = nil
      return
    }
    guard params.isObject else {
      throw RPCError.invalidParams(field: "params", "must be an object of named parameters")
    }
    var unknown: String? = nil
    params.forEachMember { key, _ in
      guard unknown == nil else { return }
      let known = allowed.contains { name in
        name.withUTF8Buffer { $0.count == key.count && UnsafeRawBufferPointer($0).elementsEqual(key) }
      }
      if !known && !alsoAllowed(key) { unknown = String(decoding: key, as: UTF8.self) }
    }
    if let unknown { throw RPCError.invalidParams(field: unknown, "is not a parameter of this method") }
    object = params
  }

  subscript(key: StaticString) -> JSONValue? {
    guard let value = object?[key], !value.isNull else { return nil }
    return value
  }

  /// The largest amount accepted: the largest integer every JSON client represents exactly.
  static let maxAmount: Int64 = 9_007_199_254_740_991

  /// A non-negative integer (an integral real such as `2.0` counts), or `nil` when absent.
  func amount(_ key: StaticString) throws(RPCError) -> Int64? {
    guard let value = self[key] else { return nil }
    return try Params.amount(value, field: "\(key)")
  }

  static func amount(_ value: JSONValue, field: String) throws(RPCError) -> Int64 {
    if let integer = value.int64 {
      guard integer >= 0 else {
        throw RPCError.invalidParams(field: field, "must not be negative", value: .int(integer))
      }
      guard integer <= maxAmount else {
        throw RPCError.invalidParams(field: field, "must be at most \(maxAmount)", value: .int(integer))
      }
      return integer
    }
    guard let real = value.double else {
      throw RPCError.invalidParams(field: field, "must be a number, not \(value.typeName)", value: shown(value))
    }
    guard real.isFinite else { throw RPCError.invalidParams(field: field, "must be finite") }
    guard real >= 0 else { throw RPCError.invalidParams(field: field, "must not be negative", value: .double(real)) }
    guard real == real.rounded() else {
      throw RPCError.invalidParams(field: field, "must be an integer", value: .double(real))
    }
    guard real <= Double(maxAmount) else {
      throw RPCError.invalidParams(field: field, "must be at most \(maxAmount)", value: .double(real))
    }
    return Int64(real)
  }

  func bool(_ key: StaticString) throws(RPCError) -> Bool? {
    guard let value = self[key] else { return nil }
    guard let flag = value.bool else {
      throw RPCError.invalidParams(field: "\(key)", "must be a boolean", value: Params.shown(value))
    }
    return flag
  }

  func string(_ key: StaticString) throws(RPCError) -> String? {
    guard let value = self[key] else { return nil }
    guard let text = value.string else {
      throw RPCError.invalidParams(
        field: "\(key)", "must be a string, not \(value.typeName)", value: Params.shown(value))
    }
    return text
  }

  func requiredString(_ key: StaticString) throws(RPCError) -> String {
    guard let text = try string(key) else { throw RPCError.invalidParams(field: "\(key)", "is required") }
    return text
  }

  /// The offending value as error data: scalars as they were sent, containers only by their type.
  static func shown(_ value: JSONValue) -> JSONData {
    switch value.kind {
    case .object, .array: return .string(value.typeName)
    default: return JSONData(value)
    }
  }

  /// A `{"name": "value"}` object of string labels.
  func labels(_ key: StaticString = "labels") throws(RPCError) -> [String: String] {
    guard let value = self[key] else { return [:] }
    guard value.isObject else { throw RPCError.invalidParams(field: "\(key)", "must be an object of strings") }
    var labels: [String: String] = [:]
    var bad: String? = nil
    value.forEachMember { name, member in
      let label = String(decoding: name, as: UTF8.self)
      if let text = member.string { labels[label] = text } else if bad == nil { bad = label }
    }
    if let bad { throw RPCError.invalidParams(field: "\(key).\(bad)", "must be a string") }
    return labels
  }
}
