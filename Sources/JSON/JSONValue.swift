internal import CJansson
import Glibc

/// A read-only view of one value inside a parsed ``JSONDocument``.
///
/// A view borrows its document's memory: it is valid only while the document is alive, so handlers read what they
/// need into Swift values and never store a view. Reading never allocates, except where a Swift `String` is asked for.
public struct JSONValue {
  /// The kinds of JSON value, with integers and reals kept apart as Jansson parses them.
  public enum Kind: Equatable, Sendable {
    case object, array, string, integer, real, bool, null
  }

  let raw: UnsafeMutablePointer<json_t>

  init(_ raw: UnsafeMutablePointer<json_t>) { self.raw = raw }

  /// The kind of this value.
  public var kind: Kind {
    switch raw.pointee.type {
    case JSON_OBJECT: return .object
    case JSON_ARRAY: return .array
    case JSON_STRING: return .string
    case JSON_INTEGER: return .integer
    case JSON_REAL: return .real
    case JSON_TRUE, JSON_FALSE: return .bool
    default: return .null
    }
  }

  /// The JSON type name of this value, for error messages ("object", "string", "number", ...).
  public var typeName: String {
    switch kind {
    case .object: return "object"
    case .array: return "array"
    case .string: return "string"
    case .integer, .real: return "number"
    case .bool: return "boolean"
    case .null: return "null"
    }
  }

  public var isNull: Bool { raw.pointee.type == JSON_NULL }
  public var isObject: Bool { raw.pointee.type == JSON_OBJECT }
  public var isArray: Bool { raw.pointee.type == JSON_ARRAY }
  public var isString: Bool { raw.pointee.type == JSON_STRING }
  public var isNumber: Bool { raw.pointee.type == JSON_INTEGER || raw.pointee.type == JSON_REAL }

  /// The member named `key` of an object, or `nil` when absent or when this is not an object.
  public subscript(key: StaticString) -> JSONValue? {
    guard raw.pointee.type == JSON_OBJECT else { return nil }
    let found = key.withUTF8Buffer { buffer in
      buffer.withMemoryRebound(to: CChar.self) { json_object_getn(raw, $0.baseAddress, $0.count) }
    }
    return found.map(JSONValue.init)
  }

  /// The member named `key` of an object, or `nil` when absent or when this is not an object.
  public func member(_ key: String) -> JSONValue? {
    guard raw.pointee.type == JSON_OBJECT else { return nil }
    var key = key
    let found = key.withUTF8 { buffer in
      buffer.withMemoryRebound(to: CChar.self) { json_object_getn(raw, $0.baseAddress, $0.count) }
    }
    return found.map(JSONValue.init)
  }

  /// Number of members (object) or elements (array); 0 otherwise.
  public var count: Int {
    switch raw.pointee.type {
    case JSON_OBJECT: return json_object_size(raw)
    case JSON_ARRAY: return json_array_size(raw)
    default: return 0
    }
  }

  /// The element at `index` of an array, or `nil`.
  public subscript(index: Int) -> JSONValue? {
    guard raw.pointee.type == JSON_ARRAY, index >= 0 else { return nil }
    return json_array_get(raw, index).map(JSONValue.init)
  }

  /// The elements of an array (empty for anything else).
  public var elements: [JSONValue] {
    guard raw.pointee.type == JSON_ARRAY else { return [] }
    return (0..<json_array_size(raw)).compactMap { json_array_get(raw, $0).map(JSONValue.init) }
  }

  /// Calls `body` for each member of an object, in document order, with the key's UTF-8 bytes.
  public func forEachMember(_ body: (UnsafeRawBufferPointer, JSONValue) throws -> Void) rethrows {
    guard raw.pointee.type == JSON_OBJECT else { return }
    var iterator = json_object_iter(raw)
    while let current = iterator {
      if let key = json_object_iter_key(current), let value = json_object_iter_value(current) {
        try body(UnsafeRawBufferPointer(start: key, count: json_object_iter_key_len(current)), JSONValue(value))
      }
      iterator = json_object_iter_next(raw, current)
    }
  }

  /// The members of an object as Swift strings, in document order.
  public var members: [(key: String, value: JSONValue)] {
    var result: [(key: String, value: JSONValue)] = []
    forEachMember { key, value in result.append((String(decoding: key, as: UTF8.self), value)) }
    return result
  }

  /// The string's UTF-8 bytes, without copying, or `nil` when this is not a string.
  public func withStringBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
    guard raw.pointee.type == JSON_STRING, let chars = json_string_value(raw) else { return nil }
    return try body(UnsafeRawBufferPointer(start: chars, count: json_string_length(raw)))
  }

  /// The string as a Swift `String`, or `nil` when this is not a string.
  public var string: String? {
    withStringBytes { String(decoding: $0, as: UTF8.self) }
  }

  /// `true` when this is a string equal to `literal`, compared byte for byte without allocating.
  public func stringEquals(_ literal: StaticString) -> Bool {
    withStringBytes { bytes in
      literal.withUTF8Buffer { expected in
        expected.count == bytes.count
          && (expected.isEmpty || memcmp(expected.baseAddress!, bytes.baseAddress!, bytes.count) == 0)
      }
    } ?? false
  }

  /// The value of an integer, or `nil` for anything else (reals included).
  public var int64: Int64? {
    raw.pointee.type == JSON_INTEGER ? Int64(json_integer_value(raw)) : nil
  }

  /// The value of an integer or real as a `Double`, or `nil`.
  public var double: Double? {
    switch raw.pointee.type {
    case JSON_INTEGER: return Double(json_integer_value(raw))
    case JSON_REAL: return json_real_value(raw)
    default: return nil
    }
  }

  /// The value of `true` or `false`, or `nil`.
  public var bool: Bool? {
    switch raw.pointee.type {
    case JSON_TRUE: return true
    case JSON_FALSE: return false
    default: return nil
    }
  }
}
