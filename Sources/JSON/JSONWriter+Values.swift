internal import CJansson

extension JSONWriter {
  /// Writes an owned value.
  public mutating func value(_ value: JSONData) {
    switch value {
    case .null: null()
    case .bool(let flag): bool(flag)
    case .int(let number): int(number)
    case .double(let number): double(number)
    case .string(let text): string(text: text)
    case .array(let elements):
      beginArray()
      for element in elements { self.value(element) }
      endArray()
    case .object(let members):
      beginObject()
      for (name, member) in members {
        key(text: name)
        self.value(member)
      }
      endObject()
    }
  }

  /// Writes a parsed value (used to echo request ids and parameters).
  public mutating func value(_ value: JSONValue) {
    switch value.kind {
    case .null: null()
    case .bool: bool(value.bool ?? false)
    case .integer: int(value.int64 ?? 0)
    case .real: double(value.double ?? 0)
    case .string: _ = value.withStringBytes { string(utf8: $0) }
    case .array:
      beginArray()
      for element in value.elements { self.value(element) }
      endArray()
    case .object:
      beginObject()
      value.forEachMember { name, member in
        string(utf8: name)
        rawByte(UInt8(ascii: ":"))
        needsComma = false
        self.value(member)
      }
      endObject()
    }
  }
}
