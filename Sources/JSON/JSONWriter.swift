import Glibc

/// Writes compact JSON text straight into a byte buffer.
///
/// Answers are written field by field instead of being built as a tree and serialised, which is what keeps the hot
/// path cheap. Commas are placed automatically: every value or key written after another inside the same container
/// is preceded by one. The caller is responsible for balancing `beginObject`/`endObject` and for writing a value
/// after each key.
///
/// The writer owns its buffer and cannot be copied: there is exactly one owner of the bytes being written, so
/// appending needs no copy-on-write checks.
public struct JSONWriter: ~Copyable {
  private var base: UnsafeMutablePointer<UInt8>
  private var capacity: Int
  /// Number of bytes written.
  public private(set) var count = 0
  /// `true` when the next value or key needs a comma before it.
  public internal(set) var needsComma = false

  public init(capacity: Int = 256) {
    self.capacity = max(64, capacity)
    base = .allocate(capacity: self.capacity)
  }

  deinit { base.deallocate() }

  /// A copy of the text written so far.
  public var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }

  /// The text written so far, without copying. Valid only inside `body`.
  public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(start: base, count: count))
  }

  /// Inserts bytes at `position`, moving what follows (used to put a frame header in front of a message).
  public mutating func insert(_ inserted: UnsafeRawBufferPointer, at position: Int) {
    guard inserted.count > 0, position <= count else { return }
    reserve(inserted.count)
    memmove(base + position + inserted.count, base + position, count - position)
    memcpy(base + position, inserted.baseAddress!, inserted.count)
    count += inserted.count
  }

  @inline(__always) private mutating func reserve(_ extra: Int) {
    if count + extra > capacity { grow(to: count + extra) }
  }

  private mutating func grow(to needed: Int) {
    var newCapacity = capacity * 2
    while newCapacity < needed { newCapacity *= 2 }
    let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
    grown.update(from: base, count: count)
    base.deallocate()
    base = grown
    capacity = newCapacity
  }

  @inline(__always) private mutating func put(_ byte: UInt8) {
    reserve(1)
    base[count] = byte
    count += 1
  }

  @inline(__always) private mutating func put(_ source: UnsafeRawPointer, _ length: Int) {
    guard length > 0 else { return }
    reserve(length)
    memcpy(base + count, source, length)
    count += length
  }

  @inline(__always) private mutating func put(_ literal: StaticString) {
    put(UnsafeRawPointer(literal.utf8Start), literal.utf8CodeUnitCount)
  }

  /// Forgets everything after `position` (used to replace a half-written answer by an error).
  public mutating func truncate(to position: Int, needsComma: Bool = false) {
    if position < count { count = max(0, position) }
    self.needsComma = needsComma
  }

  /// Removes all bytes, keeping the storage.
  public mutating func reset() {
    count = 0
    needsComma = false
  }

  @inline(__always) mutating func separator() {
    if needsComma { put(UInt8(ascii: ",")) }
  }

  public mutating func beginObject() {
    separator()
    put(UInt8(ascii: "{"))
    needsComma = false
  }

  public mutating func endObject() {
    put(UInt8(ascii: "}"))
    needsComma = true
  }

  public mutating func beginArray() {
    separator()
    put(UInt8(ascii: "["))
    needsComma = false
  }

  public mutating func endArray() {
    put(UInt8(ascii: "]"))
    needsComma = true
  }

  /// Writes an object key known at compile time to need no escaping, and the colon after it.
  public mutating func key(_ key: StaticString) {
    separator()
    reserve(key.utf8CodeUnitCount + 3)
    put(UInt8(ascii: "\""))
    put(key)
    put(UInt8(ascii: "\""))
    put(UInt8(ascii: ":"))
    needsComma = false
  }

  /// Writes an object key (escaped as needed) and the colon after it.
  public mutating func key(text key: String) {
    string(text: key)
    put(UInt8(ascii: ":"))
    needsComma = false
  }

  /// Writes a string known at compile time to need no escaping.
  public mutating func string(_ value: StaticString) {
    separator()
    put(UInt8(ascii: "\""))
    put(value)
    put(UInt8(ascii: "\""))
    needsComma = true
  }

  /// Writes a string, escaping quotes, backslashes and control characters.
  public mutating func string(text value: String) {
    var value = value
    value.withUTF8 { string(utf8: UnsafeRawBufferPointer($0)) }
  }

  /// Writes a string given as UTF-8 bytes, escaping as needed.
  public mutating func string(utf8 value: UnsafeRawBufferPointer) {
    separator()
    put(UInt8(ascii: "\""))
    if let base = value.baseAddress?.assumingMemoryBound(to: UInt8.self) {
      var runStart = 0
      var index = 0
      let length = value.count
      while index < length {
        let byte = base[index]
        if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
          index += 1
          continue
        }
        put(base + runStart, index - runStart)
        appendEscaped(byte)
        index += 1
        runStart = index
      }
      put(base + runStart, length - runStart)
    }
    put(UInt8(ascii: "\""))
    needsComma = true
  }

  private mutating func appendEscaped(_ byte: UInt8) {
    put(UInt8(ascii: "\\"))
    switch byte {
    case UInt8(ascii: "\""): put(UInt8(ascii: "\""))
    case UInt8(ascii: "\\"): put(UInt8(ascii: "\\"))
    case 0x0A: put(UInt8(ascii: "n"))
    case 0x0D: put(UInt8(ascii: "r"))
    case 0x09: put(UInt8(ascii: "t"))
    case 0x08: put(UInt8(ascii: "b"))
    case 0x0C: put(UInt8(ascii: "f"))
    default:
      let hex: StaticString = "0123456789abcdef"
      put("u00")
      put(hex.utf8Start[Int(byte >> 4)])
      put(hex.utf8Start[Int(byte & 0x0F)])
    }
  }

  /// Writes an integer.
  public mutating func int(_ value: Int64) {
    separator()
    appendDecimal(value)
    needsComma = true
  }

  /// Writes an integer.
  public mutating func int(_ value: Int) { int(Int64(value)) }

  /// Writes a number: integral values without a fraction, others in the shortest form that reads back exactly.
  /// JSON has no NaN or infinity; those are written as `null`.
  public mutating func double(_ value: Double) {
    guard value.isFinite else { return null() }
    if value == value.rounded(.towardZero), abs(value) < 1e15 {
      return int(Int64(value))
    }
    separator()
    var text = value.description
    text.withUTF8 { put(UnsafeRawPointer($0.baseAddress!), $0.count) }
    needsComma = true
  }

  public mutating func bool(_ value: Bool) {
    separator()
    put(value ? "true" : "false")
    needsComma = true
  }

  public mutating func null() {
    separator()
    put("null")
    needsComma = true
  }

  /// Appends bytes that are already a complete JSON value (no validation).
  public mutating func rawValue(_ json: UnsafeRawBufferPointer) {
    separator()
    if let source = json.baseAddress { put(source, json.count) }
    needsComma = true
  }

  /// Appends bytes outside the JSON grammar (framing headers, newlines). Does not touch comma state.
  public mutating func rawBytes(_ raw: UnsafeRawBufferPointer) {
    if let source = raw.baseAddress { put(source, raw.count) }
  }

  /// Appends one byte outside the JSON grammar.
  public mutating func rawByte(_ byte: UInt8) {
    put(byte)
  }

  private mutating func appendDecimal(_ value: Int64) {
    if value >= 0 && value < 10 {
      put(UInt8(ascii: "0") &+ UInt8(value))
      return
    }
    // Digits are produced backwards into the reserved space's end, then moved once.
    reserve(20)
    var magnitude = value.magnitude
    var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
    let written = withUnsafeMutableBytes(of: &digits) { scratch -> Int in
      var index = 24
      repeat {
        index -= 1
        scratch[index] = UInt8(ascii: "0") &+ UInt8(magnitude % 10)
        magnitude /= 10
      } while magnitude != 0
      if value < 0 {
        index -= 1
        scratch[index] = UInt8(ascii: "-")
      }
      memcpy(base + count, scratch.baseAddress! + index, 24 - index)
      return 24 - index
    }
    count += written
  }
}
