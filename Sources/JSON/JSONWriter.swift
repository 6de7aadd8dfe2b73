/// Writes compact JSON text straight into a byte buffer.
///
/// Answers are written field by field instead of being built as a tree and serialised, which is what keeps the hot
/// path cheap. Commas are placed automatically: every value or key written after another inside the same container
/// is preceded by one. The caller is responsible for balancing `beginObject`/`endObject` and for writing a value
/// after each key.
public struct JSONWriter {
  /// The text written so far.
  public var bytes: [UInt8]
  /// `true` when the next value or key needs a comma before it.
  public internal(set) var needsComma = false

  public init(capacity: Int = 256) {
    bytes = []
    bytes.reserveCapacity(capacity)
  }

  /// Number of bytes written.
  @inlinable public var count: Int { bytes.count }

  /// Forgets everything after `position` (used to replace a half-written answer by an error).
  public mutating func truncate(to position: Int, needsComma: Bool = false) {
    if position < bytes.count { bytes.removeSubrange(position...) }
    self.needsComma = needsComma
  }

  /// Removes all bytes, keeping the storage.
  public mutating func reset() {
    bytes.removeAll(keepingCapacity: true)
    needsComma = false
  }

  @inlinable mutating func separator() {
    if needsComma { bytes.append(UInt8(ascii: ",")) }
  }

  public mutating func beginObject() {
    separator()
    bytes.append(UInt8(ascii: "{"))
    needsComma = false
  }

  public mutating func endObject() {
    bytes.append(UInt8(ascii: "}"))
    needsComma = true
  }

  public mutating func beginArray() {
    separator()
    bytes.append(UInt8(ascii: "["))
    needsComma = false
  }

  public mutating func endArray() {
    bytes.append(UInt8(ascii: "]"))
    needsComma = true
  }

  /// Writes an object key known at compile time to need no escaping, and the colon after it.
  public mutating func key(_ key: StaticString) {
    separator()
    bytes.append(UInt8(ascii: "\""))
    key.withUTF8Buffer { bytes.append(contentsOf: $0) }
    bytes.append(UInt8(ascii: "\""))
    bytes.append(UInt8(ascii: ":"))
    needsComma = false
  }

  /// Writes an object key (escaped as needed) and the colon after it.
  public mutating func key(_ key: String) {
    string(key)
    bytes.append(UInt8(ascii: ":"))
    needsComma = false
  }

  /// Writes a string known at compile time to need no escaping.
  public mutating func string(_ value: StaticString) {
    separator()
    bytes.append(UInt8(ascii: "\""))
    value.withUTF8Buffer { bytes.append(contentsOf: $0) }
    bytes.append(UInt8(ascii: "\""))
    needsComma = true
  }

  /// Writes a string, escaping quotes, backslashes and control characters.
  public mutating func string(_ value: String) {
    var value = value
    value.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
  }

  /// Writes a string given as UTF-8 bytes, escaping as needed.
  public mutating func string(utf8 value: UnsafeRawBufferPointer) {
    separator()
    bytes.append(UInt8(ascii: "\""))
    var runStart = 0
    for index in 0..<value.count {
      let byte = value[index]
      guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
      if runStart < index { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[runStart..<index])) }
      runStart = index + 1
      bytes.append(UInt8(ascii: "\\"))
      switch byte {
      case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
      case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
      case 0x0A: bytes.append(UInt8(ascii: "n"))
      case 0x0D: bytes.append(UInt8(ascii: "r"))
      case 0x09: bytes.append(UInt8(ascii: "t"))
      case 0x08: bytes.append(UInt8(ascii: "b"))
      case 0x0C: bytes.append(UInt8(ascii: "f"))
      default:
        let hex: StaticString = "0123456789abcdef"
        bytes.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
        hex.withUTF8Buffer { digits in
          bytes.append(digits[Int(byte >> 4)])
          bytes.append(digits[Int(byte & 0x0F)])
        }
      }
    }
    if runStart < value.count { bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: value[runStart...])) }
    bytes.append(UInt8(ascii: "\""))
    needsComma = true
  }

  /// Writes an integer.
  public mutating func int(_ value: Int64) {
    separator()
    appendDecimal(value)
    needsComma = true
  }

  /// Writes an integer.
  @inlinable public mutating func int(_ value: Int) { int(Int64(value)) }

  /// Writes a number: integral values without a fraction, others in the shortest form that reads back exactly.
  /// JSON has no NaN or infinity; those are written as `null`.
  public mutating func double(_ value: Double) {
    guard value.isFinite else { return null() }
    if value == value.rounded(.towardZero), abs(value) < 1e15 {
      if value == 0 { return int(0) }
      return int(Int64(value))
    }
    separator()
    bytes.append(contentsOf: value.description.utf8)
    needsComma = true
  }

  public mutating func bool(_ value: Bool) {
    separator()
    if value {
      bytes.append(contentsOf: [UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "u"), UInt8(ascii: "e")])
    } else {
      bytes.append(contentsOf: [UInt8(ascii: "f"), UInt8(ascii: "a"), UInt8(ascii: "l"), UInt8(ascii: "s"), UInt8(ascii: "e")])
    }
    needsComma = true
  }

  public mutating func null() {
    separator()
    bytes.append(contentsOf: [UInt8(ascii: "n"), UInt8(ascii: "u"), UInt8(ascii: "l"), UInt8(ascii: "l")])
    needsComma = true
  }

  /// Appends bytes that are already a complete JSON value (no validation).
  public mutating func rawValue(_ json: UnsafeRawBufferPointer) {
    separator()
    bytes.append(contentsOf: json)
    needsComma = true
  }

  /// Appends bytes outside the JSON grammar (framing headers, newlines). Does not touch comma state.
  public mutating func rawBytes(_ raw: UnsafeRawBufferPointer) {
    bytes.append(contentsOf: raw)
  }

  /// Appends one byte outside the JSON grammar.
  public mutating func rawByte(_ byte: UInt8) {
    bytes.append(byte)
  }

  @usableFromInline mutating func appendDecimal(_ value: Int64) {
    if value >= 0 && value < 10 {
      bytes.append(UInt8(ascii: "0") &+ UInt8(value))
      return
    }
    // Digits are produced backwards into a small stack buffer, then copied once.
    withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
      var magnitude = value.magnitude
      var index = 20
      repeat {
        index -= 1
        digits[index] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
        magnitude /= 10
      } while magnitude != 0
      if value < 0 { bytes.append(UInt8(ascii: "-")) }
      bytes.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index..<20]))
    }
  }
}
