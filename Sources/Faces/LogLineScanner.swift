import Glibc

/// Reads one line of a log as JSON without building a tree: it checks the whole line is valid JSON and notes where
/// the values of a few members (named by a path from the top-level object) lie, in one pass over the bytes, without
/// allocating. It is a fast path, never the judge: whatever it is not sure to read exactly as Jansson would (an escape
/// in a key, a `\u` surrogate or NUL, an integer of more than 18 digits, a number with an exponent, nesting deeper
/// than 100, invalid bytes or syntax) makes it answer `false`, and the line is then parsed by Jansson as before.
struct LogLineScanner {
  /// What a member held, as far as the readers care.
  enum Kind: UInt8 {
    case absent, string, integer, null, object, other
  }

  /// Where one member's value lies in the line: a string's bytes without its quotes, an integer's digits.
  struct Value {
    var kind = Kind.absent
    var start = 0
    var end = 0
    /// The string holds escapes (its bytes are not its value).
    var escaped = false
  }

  /// A member looked for: its name and the index of the member (object) it is in, `-1` for the top level.
  struct Path {
    var parent: Int
    var name: StaticString
  }

  let paths: [Path]

  init(_ paths: [Path]) { self.paths = paths }

  /// The top-level value, as a path's parent.
  static let root = -1
  /// A value nobody looks at (and everything inside it).
  static let ignored = -2

  /// The deepest nesting accepted (the top-level value is depth 1), as `JSONDocument.parse` does.
  static let maxDepth = 100

  /// Scans `bytes` (one line, trimmed); `body` gets the bytes and the values found (indexed like ``paths``) when the
  /// line is valid JSON that the scanner read for sure, or `nil` when Jansson must decide.
  func scan<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, UnsafeBufferPointer<Value>?) -> R) -> R
  {
    withUnsafeTemporaryAllocation(of: Value.self, capacity: paths.count) { values in
      values.initialize(repeating: Value())
      var state = State(base: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count, paths: paths)
      let valid = state.run(values)
      return body(bytes, valid ? UnsafeBufferPointer(values) : nil)
    }
  }

  /// The parse in progress.
  private struct State {
    let base: UnsafePointer<UInt8>?
    let count: Int
    let paths: [Path]
    var index = 0

    init(base: UnsafePointer<UInt8>?, count: Int, paths: [Path]) {
      self.base = base
      self.count = count
      self.paths = paths
    }

    mutating func run(_ values: UnsafeMutableBufferPointer<Value>) -> Bool {
      guard base != nil, count > 0 else { return false }
      skipBlanks()
      guard value(LogLineScanner.root, depth: 1, values) else { return false }
      skipBlanks()
      return index == count
    }

    @inline(__always) func byte(_ at: Int) -> UInt8 { base.unsafelyUnwrapped[at] }

    @inline(__always) mutating func skipBlanks() {
      while index < count {
        let b = byte(index)
        guard b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 else { return }
        index += 1
      }
    }

    /// Forgets what was found under `node` (a member seen again: the last one counts, as in Jansson).
    func clear(under node: Int, _ values: UnsafeMutableBufferPointer<Value>) {
      for candidate in paths.indices {
        var parent = paths[candidate].parent
        while parent >= 0 && parent != node { parent = paths[parent].parent }
        if parent == node { values[candidate] = Value() }
      }
    }

    /// The path under `node` named by the key's bytes, or ``LogLineScanner/ignored``.
    func child(of node: Int, start: Int, end: Int) -> Int {
      let length = end - start
      for candidate in paths.indices where paths[candidate].parent == node {
        let name = paths[candidate].name
        if name.utf8CodeUnitCount == length && memcmp(name.utf8Start, base.unsafelyUnwrapped + start, length) == 0 {
          return candidate
        }
      }
      return LogLineScanner.ignored
    }

    /// Reads one value for `node` (a path's index, ``LogLineScanner/root`` or ``LogLineScanner/ignored``).
    mutating func value(_ node: Int, depth: Int, _ values: UnsafeMutableBufferPointer<Value>) -> Bool {
      guard index < count else { return false }
      switch byte(index) {
      case UInt8(ascii: "{"):
        guard depth <= LogLineScanner.maxDepth else { return false }
        if node >= 0 {
          if values[node].kind != .absent { clear(under: node, values) }
          values[node] = Value(kind: .object, start: index, end: index)
        }
        index += 1
        skipBlanks()
        if index < count && byte(index) == UInt8(ascii: "}") {
          index += 1
          return true
        }
        while true {
          guard index < count, byte(index) == UInt8(ascii: "\"") else { return false }
          let start = index + 1
          guard let (escaped, nul) = string() else { return false }
          let end = index - 1
          // A NUL in a key is refused by Jansson; an escaped key might spell a member looked for.
          if nul || (escaped && node >= LogLineScanner.root) { return false }
          let member = node >= LogLineScanner.root ? child(of: node, start: start, end: end) : LogLineScanner.ignored
          skipBlanks()
          guard index < count, byte(index) == UInt8(ascii: ":") else { return false }
          index += 1
          skipBlanks()
          guard value(member, depth: depth + 1, values) else { return false }
          skipBlanks()
          guard index < count else { return false }
          let next = byte(index)
          index += 1
          if next == UInt8(ascii: "}") { return true }
          guard next == UInt8(ascii: ",") else { return false }
          skipBlanks()
        }
      case UInt8(ascii: "["):
        guard depth <= LogLineScanner.maxDepth else { return false }
        if node >= 0 { set(node, .other, index, index, false, values) }
        index += 1
        skipBlanks()
        if index < count && byte(index) == UInt8(ascii: "]") {
          index += 1
          return true
        }
        while true {
          guard value(LogLineScanner.ignored, depth: depth + 1, values) else { return false }
          skipBlanks()
          guard index < count else { return false }
          let next = byte(index)
          index += 1
          if next == UInt8(ascii: "]") { return true }
          guard next == UInt8(ascii: ",") else { return false }
          skipBlanks()
        }
      case UInt8(ascii: "\""):
        let start = index + 1
        guard let (escaped, _) = string() else { return false }
        if node >= 0 { set(node, .string, start, index - 1, escaped, values) }
        return true
      case UInt8(ascii: "t"):
        guard literal("true") else { return false }
        if node >= 0 { set(node, .other, index, index, false, values) }
        return true
      case UInt8(ascii: "f"):
        guard literal("false") else { return false }
        if node >= 0 { set(node, .other, index, index, false, values) }
        return true
      case UInt8(ascii: "n"):
        guard literal("null") else { return false }
        if node >= 0 { set(node, .null, index, index, false, values) }
        return true
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        let start = index
        guard let integer = number() else { return false }
        if node >= 0 { set(node, integer ? .integer : .other, start, index, false, values) }
        return true
      default:
        return false
      }
    }

    @inline(__always) func set(
      _ node: Int, _ kind: Kind, _ start: Int, _ end: Int, _ escaped: Bool, _ values: UnsafeMutableBufferPointer<Value>
    ) {
      if values[node].kind == .object { clear(under: node, values) }
      values[node] = Value(kind: kind, start: start, end: end, escaped: escaped)
    }

    mutating func literal(_ word: StaticString) -> Bool {
      let length = word.utf8CodeUnitCount
      guard count - index >= length, memcmp(word.utf8Start, base.unsafelyUnwrapped + index, length) == 0 else {
        return false
      }
      index += length
      return true
    }

    /// A number in JSON's grammar: `true` for an integer (up to 18 digits), `false` for a real without exponent;
    /// `nil` for anything else (invalid, or left to Jansson: exponents, long integers).
    mutating func number() -> Bool? {
      if byte(index) == UInt8(ascii: "-") { index += 1 }
      let digitsStart = index
      while index < count, byte(index) >= 0x30, byte(index) <= 0x39 { index += 1 }
      let digits = index - digitsStart
      guard digits > 0, digits <= 18 else { return nil }
      if digits > 1 && byte(digitsStart) == UInt8(ascii: "0") { return nil }
      guard index < count else { return true }
      if byte(index) == UInt8(ascii: "e") || byte(index) == UInt8(ascii: "E") { return nil }
      guard byte(index) == UInt8(ascii: ".") else { return true }
      index += 1
      let fractionStart = index
      while index < count, byte(index) >= 0x30, byte(index) <= 0x39 { index += 1 }
      guard index > fractionStart else { return nil }
      if index < count && (byte(index) == UInt8(ascii: "e") || byte(index) == UInt8(ascii: "E")) { return nil }
      return false
    }

    /// A string from its opening quote to past its closing one: whether it holds escapes and a `\u0000`; `nil` when
    /// invalid (or a surrogate escape, left to Jansson).
    mutating func string() -> (escaped: Bool, nul: Bool)? {
      index += 1
      var escaped = false
      var nul = false
      let bytes = base.unsafelyUnwrapped
      while index < count {
        // Plain ASCII runs are most of a line: skipped eight bytes at a time, then byte by byte.
        var position = index
        while position + 8 <= count,
          !LogLineScanner.special(UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self))
        {
          position += 8
        }
        while position < count {
          let b = bytes[position]
          guard b >= 0x20, b < 0x80, b != UInt8(ascii: "\""), b != UInt8(ascii: "\\") else { break }
          position += 1
        }
        index = position
        guard index < count else { return nil }
        let b = bytes[index]
        if b == UInt8(ascii: "\"") {
          index += 1
          return (escaped, nul)
        }
        if b == UInt8(ascii: "\\") {
          escaped = true
          guard index + 1 < count else { return nil }
          switch byte(index + 1) {
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
          case UInt8(ascii: "u"):
            guard index + 6 <= count else { return nil }
            var scalar: UInt32 = 0
            for offset in 2..<6 {
              let h = byte(index + offset)
              let digit: UInt8
              switch h {
              case 0x30...0x39: digit = h - 0x30
              case 0x41...0x46: digit = h - 0x41 + 10
              case 0x61...0x66: digit = h - 0x61 + 10
              default: return nil
              }
              scalar = scalar << 4 | UInt32(digit)
            }
            if scalar >= 0xD800 && scalar <= 0xDFFF { return nil }
            if scalar == 0 { nul = true }
            index += 6
          default:
            return nil
          }
          continue
        }
        if b < 0x20 { return nil }
        if b < 0x80 {
          index += 1
          continue
        }
        guard let length = Self.sequenceLength(base.unsafelyUnwrapped + index, count - index) else { return nil }
        index += length
      }
      return nil
    }

    /// The length of the well-formed UTF-8 sequence at `p` (a leading byte of 0x80 or more), or `nil`: no overlong
    /// forms, no surrogates, nothing past U+10FFFF.
    static func sequenceLength(_ p: UnsafePointer<UInt8>, _ available: Int) -> Int? {
      let first = p[0]
      @inline(__always) func continuation(_ b: UInt8) -> Bool { b & 0xC0 == 0x80 }
      switch first {
      case 0xC2...0xDF:
        guard available >= 2, continuation(p[1]) else { return nil }
        return 2
      case 0xE0...0xEF:
        guard available >= 3, continuation(p[1]), continuation(p[2]) else { return nil }
        if first == 0xE0 && p[1] < 0xA0 { return nil }
        if first == 0xED && p[1] > 0x9F { return nil }
        return 3
      case 0xF0...0xF4:
        guard available >= 4, continuation(p[1]), continuation(p[2]), continuation(p[3]) else { return nil }
        if first == 0xF0 && p[1] < 0x90 { return nil }
        if first == 0xF4 && p[1] > 0x8F { return nil }
        return 4
      default:
        return nil
      }
    }
  }
}

extension LogLineScanner {
  /// Whether any of the eight bytes of `word` ends a plain run of a string: a quote, a backslash, a control
  /// character or a byte of 0x80 or more (exact for "any", the classic zero-byte tests).
  @inline(__always) static func special(_ word: UInt64) -> Bool {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highs: UInt64 = 0x8080_8080_8080_8080
    @inline(__always) func zeroByte(_ value: UInt64) -> UInt64 { (value &- ones) & ~value & highs }
    let control = (word &- ones &* 0x20) & ~word & highs
    let quote = zeroByte(word ^ (ones &* 0x22))
    let backslash = zeroByte(word ^ (ones &* 0x5C))
    return (word & highs) | control | quote | backslash != 0
  }
}

extension LogLineScanner.Value {
  /// Whether this is a string equal to `literal` (a string without escapes; an escaped one is never taken as equal,
  /// so callers first send lines with escaped strings they need to Jansson).
  func equals(_ literal: StaticString, in bytes: UnsafeRawBufferPointer) -> Bool {
    kind == .string && !escaped && end - start == literal.utf8CodeUnitCount
      && memcmp(literal.utf8Start, bytes.baseAddress.unsafelyUnwrapped + start, end - start) == 0
  }

  /// The string's value (a string without escapes), or `nil`.
  func string(in bytes: UnsafeRawBufferPointer) -> String? {
    guard kind == .string, !escaped else { return nil }
    return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
  }

  /// `prefix`, the first string's bytes, `separator` and the second's, made into one string at once (strings without
  /// escapes, as the readers ask for them).
  static func joined(
    _ prefix: StaticString, _ first: Self, _ separator: StaticString, _ second: Self?, in bytes: UnsafeRawBufferPointer
  ) -> String {
    let firstCount = first.end - first.start
    let secondCount = second.map { $0.end - $0.start } ?? 0
    let total = prefix.utf8CodeUnitCount + firstCount + separator.utf8CodeUnitCount + secondCount
    let base = bytes.baseAddress.unsafelyUnwrapped
    return String(unsafeUninitializedCapacity: total) { buffer in
      var offset = 0
      func append(_ source: UnsafeRawPointer, _ count: Int) {
        if count > 0 { memcpy(buffer.baseAddress.unsafelyUnwrapped + offset, source, count) }
        offset += count
      }
      append(prefix.utf8Start, prefix.utf8CodeUnitCount)
      append(base + first.start, firstCount)
      if let second {
        append(separator.utf8Start, separator.utf8CodeUnitCount)
        append(base + second.start, secondCount)
      }
      return offset
    }
  }

  /// The integer's value, or `nil` for anything else.
  func int64(in bytes: UnsafeRawBufferPointer) -> Int64? {
    guard kind == .integer, let base = bytes.baseAddress else { return nil }
    let digits = base.assumingMemoryBound(to: UInt8.self)
    var position = start
    let negative = digits[position] == UInt8(ascii: "-")
    if negative { position += 1 }
    // At most 18 digits (the scanner leaves longer integers to Jansson): no overflow.
    var value: Int64 = 0
    while position < end {
      value = value &* 10 &+ Int64(digits[position] &- 0x30)
      position += 1
    }
    return negative ? -value : value
  }

  /// A string that has escapes: the fast path cannot read it.
  var needsJansson: Bool { kind == .string && escaped }
}
