/// An owned JSON value in plain Swift, for the paths where convenience beats speed: error data, configuration,
/// tests. Object members keep their order.
public indirect enum JSONData: Equatable, Sendable {
  case null
  case bool(Bool)
  case int(Int64)
  case double(Double)
  case string(String)
  case array([JSONData])
  case object([(String, JSONData)])

  public static func == (lhs: JSONData, rhs: JSONData) -> Bool {
    switch (lhs, rhs) {
    case (.null, .null): return true
    case let (.bool(a), .bool(b)): return a == b
    case let (.string(a), .string(b)): return a == b
    case let (.array(a), .array(b)): return a == b
    case let (.object(a), .object(b)):
      // Members compare as a set of keys: order carries no meaning in JSON.
      guard a.count == b.count else { return false }
      return Dictionary(a, uniquingKeysWith: { first, _ in first })
        == Dictionary(b, uniquingKeysWith: { first, _ in first })
    case let (.int(a), .int(b)): return a == b
    case let (.int(a), .double(b)), let (.double(b), .int(a)): return Int64(exactly: b) == a
    default:
      guard let a = lhs.number, let b = rhs.number else { return false }
      return a == b
    }
  }

  /// The numeric value of `.int` or `.double`.
  public var number: Double? {
    switch self {
    case .int(let value): return Double(value)
    case .double(let value): return value
    default: return nil
    }
  }

  /// The member `key` of an object.
  public subscript(key: String) -> JSONData? {
    guard case .object(let members) = self else { return nil }
    return members.first { $0.0 == key }?.1
  }

  /// The element at `index` of an array.
  public subscript(index: Int) -> JSONData? {
    guard case .array(let elements) = self, elements.indices.contains(index) else { return nil }
    return elements[index]
  }

  public var string: String? {
    if case .string(let value) = self { return value }
    return nil
  }

  public var int: Int64? {
    switch self {
    case .int(let value): return value
    case .double(let value) where value == value.rounded() && abs(value) < 9.2e18: return Int64(value)
    default: return nil
    }
  }

  public var bool: Bool? {
    if case .bool(let value) = self { return value }
    return nil
  }

  public var array: [JSONData]? {
    if case .array(let value) = self { return value }
    return nil
  }

  public var objectMembers: [(String, JSONData)]? {
    if case .object(let value) = self { return value }
    return nil
  }

  /// Copies a parsed value into an owned one.
  public init(_ value: JSONValue) {
    switch value.kind {
    case .null: self = .null
    case .bool: self = .bool(value.bool ?? false)
    case .integer: self = .int(value.int64 ?? 0)
    case .real: self = .double(value.double ?? 0)
    case .string: self = .string(value.string ?? "")
    case .array: self = .array(value.elements.map(JSONData.init))
    case .object: self = .object(value.members.map { ($0.key, JSONData($0.value)) })
    }
  }

  /// Parses a JSON text into an owned value.
  public init(parsing text: String, maxDepth: Int = 100) throws(JSONParseError) {
    let document = try JSONDocument.parse(text, maxDepth: maxDepth)
    self = document.withRoot { JSONData($0) }
  }

  /// Compact JSON text.
  public var jsonText: String {
    var writer = JSONWriter()
    writer.value(self)
    return String(decoding: writer.bytes, as: UTF8.self)
  }
}

extension JSONData: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
  ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
  public init(nilLiteral: ()) { self = .null }
  public init(booleanLiteral value: Bool) { self = .bool(value) }
  public init(integerLiteral value: Int64) { self = .int(value) }
  public init(floatLiteral value: Double) { self = .double(value) }
  public init(stringLiteral value: String) { self = .string(value) }
  public init(arrayLiteral elements: JSONData...) { self = .array(elements) }
  public init(dictionaryLiteral elements: (String, JSONData)...) { self = .object(elements) }
}
