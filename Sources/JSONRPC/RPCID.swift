public import JSON

/// A request id as JSON-RPC allows it: a string, a number, or null.
public enum RPCID: Hashable, Sendable, CustomStringConvertible {
  case int(Int64)
  case double(Double)
  case string(String)
  case null

  /// Reads an id; `nil` when the value is not a valid id type (object, array, boolean).
  public init?(_ value: JSONValue) {
    switch value.kind {
    case .integer: self = .int(value.int64 ?? 0)
    case .real: self = .double(value.double ?? 0)
    case .string: self = .string(value.string ?? "")
    case .null: self = .null
    default: return nil
    }
  }

  public func write(to writer: inout JSONWriter) {
    switch self {
    case .int(let value): writer.int(value)
    case .double(let value): writer.double(value)
    case .string(let value): writer.string(text: value)
    case .null: writer.null()
    }
  }

  public var description: String {
    switch self {
    case .int(let value): return "\(value)"
    case .double(let value): return "\(value)"
    case .string(let value): return "\"\(value)\""
    case .null: return "null"
    }
  }
}
