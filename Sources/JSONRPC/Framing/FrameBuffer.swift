#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Growable byte storage shared by the framers.
///
/// Bytes are appended at the end and consumed from the front by moving `readIndex`. Only `append` moves bytes:
/// before copying new ones in, it moves the unread tail to the front (compaction) and grows the storage only when
/// the tail plus the new bytes do not fit. Offsets handed out between two appends therefore stay valid, which is
/// what lets a framer expose frames as ranges into the buffer and step back into the last frame to rescan it.
struct FrameBuffer: Sendable {
  /// The smallest capacity allocated once bytes arrive.
  static let minimumCapacity = 4096

  /// Backing store. Its `count` is the capacity; only `readIndex..<endIndex` holds unread bytes.
  private var storage: [UInt8] = []

  /// Offset of the first unread byte.
  private(set) var readIndex = 0

  /// Offset one past the last buffered byte.
  private(set) var endIndex = 0

  /// Bytes the storage can hold without growing.
  var capacity: Int { storage.count }

  /// Bytes appended and not yet consumed.
  var unreadCount: Int { endIndex - readIndex }

  /// The byte at `index`, which must lie in `0..<endIndex`.
  subscript(index: Int) -> UInt8 { storage[index] }

  /// Moves the read position to `index`, clamped to the buffered bytes. Moving backwards is allowed until the next
  /// `append`, because bytes before `readIndex` are only overwritten by compaction.
  mutating func setReadIndex(_ index: Int) {
    readIndex = Swift.min(Swift.max(index, 0), endIndex)
  }

  /// Marks every buffered byte as read.
  mutating func consumeAll() {
    readIndex = endIndex
  }

  /// Copies `bytes` in after the unread tail, compacting first and growing only when needed.
  mutating func append(_ bytes: UnsafeRawBufferPointer) {
    let count = bytes.count
    guard count > 0, let source = bytes.baseAddress, makeRoom(for: count) else { return }
    let end = endIndex
    storage.withUnsafeMutableBytes { target in
      guard let base = target.baseAddress else { return }
      _ = memcpy(base + end, source, count)
    }
    endIndex = end + count
  }

  /// Moves the unread tail to offset 0 and ensures `count` more bytes fit after it; `false` only when the total
  /// size is not representable.
  private mutating func makeRoom(for count: Int) -> Bool {
    let unread = unreadCount
    if readIndex > 0 {
      if unread > 0 {
        let from = readIndex
        storage.withUnsafeMutableBytes { raw in
          guard let base = raw.baseAddress else { return }
          _ = memmove(base, base + from, unread)
        }
      }
      readIndex = 0
      endIndex = unread
    }
    let (needed, overflow) = unread.addingReportingOverflow(count)
    guard !overflow else { return false }
    guard needed > storage.count else { return true }
    var newCapacity = Swift.max(storage.count, FrameBuffer.minimumCapacity)
    while newCapacity < needed {
      let (doubled, doubledOverflow) = newCapacity.multipliedReportingOverflow(by: 2)
      newCapacity = doubledOverflow ? needed : doubled
    }
    var grown = [UInt8](repeating: 0, count: newCapacity)
    if unread > 0 {
      grown.withUnsafeMutableBytes { target in
        storage.withUnsafeBytes { source in
          guard let to = target.baseAddress, let from = source.baseAddress else { return }
          _ = memcpy(to, from, unread)
        }
      }
    }
    storage = grown
    return true
  }

  /// The offset of the first `byte` in `start..<endIndex`, found with `memchr`.
  func firstIndex(of byte: UInt8, from start: Int) -> Int? {
    let end = endIndex
    guard start >= 0, start < end else { return nil }
    return storage.withUnsafeBytes { raw -> Int? in
      guard let base = raw.baseAddress, let hit = memchr(base + start, Int32(byte), end - start) else { return nil }
      return base.distance(to: UnsafeRawPointer(hit))
    }
  }

  /// The offset of the first `byte` in `bytes`, found with `memchr`.
  static func firstIndex(of byte: UInt8, in bytes: UnsafeRawBufferPointer) -> Int? {
    guard let base = bytes.baseAddress, let hit = memchr(base, Int32(byte), bytes.count) else { return nil }
    return base.distance(to: UnsafeRawPointer(hit))
  }

  /// Calls `body` with the bytes in `range`, clamped to the buffered bytes.
  func withBytes<R>(in range: Range<Int>, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    let valid = range.clamped(to: 0..<endIndex)
    return try storage.withUnsafeBytes { raw in
      try body(UnsafeRawBufferPointer(rebasing: raw[valid]))
    }
  }

  /// `true` when `range` (clamped to the buffered bytes) holds a byte other than space, tab, CR and LF.
  func containsNonWhitespace(in range: Range<Int>) -> Bool {
    for index in range.clamped(to: 0..<endIndex) where !FrameBuffer.isWhitespace(storage[index]) {
      return true
    }
    return false
  }
}

// MARK: - Byte classes

extension FrameBuffer {
  /// Line feed, `\n`.
  static let lineFeed: UInt8 = 0x0A
  /// Carriage return, `\r`.
  static let carriageReturn: UInt8 = 0x0D
  /// Space.
  static let space: UInt8 = 0x20
  /// Horizontal tab.
  static let tab: UInt8 = 0x09
  /// Colon, the header name separator.
  static let colon: UInt8 = 0x3A

  /// Space or tab.
  static func isSpaceOrTab(_ byte: UInt8) -> Bool {
    byte == space || byte == tab
  }

  /// Space, tab, CR or LF.
  static func isWhitespace(_ byte: UInt8) -> Bool {
    byte == space || byte == tab || byte == carriageReturn || byte == lineFeed
  }

  /// The byte with ASCII `A`...`Z` mapped to `a`...`z`, every other byte unchanged.
  static func lowercased(_ byte: UInt8) -> UInt8 {
    byte &- 0x41 < 26 ? byte | 0x20 : byte
  }

  /// `true` when `byte` may appear in an HTTP header name (RFC 9110 `tchar`).
  static func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
    case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
      UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
      UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
      true
    default: false
    }
  }
}
