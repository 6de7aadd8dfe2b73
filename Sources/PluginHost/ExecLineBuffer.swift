/// Splits bytes read from a child's stdout or stderr into lines (`\n`, with one trailing `\r` removed), holding at
/// most `maxLineBytes` of an unfinished line.
///
/// What happens to a longer line depends on the stream: on stdout it is a protocol error (``Event/tooLong``), and
/// the buffer drops everything until the next newline; on stderr (`splitLongLines`) it is cut into pieces of
/// `maxLineBytes`.
struct ExecLineBuffer {
  /// One thing found in the bytes.
  enum Event: Equatable {
    case line([UInt8])
    /// A line longer than the limit (at least this many bytes).
    case tooLong(Int)
  }

  let maxLineBytes: Int
  let splitLongLines: Bool
  private var bytes: [UInt8] = []
  /// Start of the unread part of `bytes`.
  private var start = 0
  /// How far past `start` the current line is known to hold no newline.
  private var scanned = 0
  private var discarding = false

  init(maxLineBytes: Int, splitLongLines: Bool) {
    self.maxLineBytes = maxLineBytes
    self.splitLongLines = splitLongLines
  }

  mutating func append(_ chunk: UnsafeRawBufferPointer) {
    var chunk = chunk
    if discarding {
      guard let newline = chunk.firstIndex(of: 0x0A) else { return }
      discarding = false
      chunk = UnsafeRawBufferPointer(rebasing: chunk[(newline + 1)...])
    }
    if start > 0 && start >= bytes.count / 2 {
      bytes.removeFirst(start)
      start = 0
    }
    bytes.append(contentsOf: chunk)
  }

  /// The next complete line or error, or `nil` when more bytes are needed.
  mutating func next() -> Event? {
    let searchFrom = start + scanned
    if let newline = bytes[searchFrom...].firstIndex(of: 0x0A) {
      let end = newline > start && bytes[newline - 1] == 0x0D ? newline - 1 : newline
      let length = end - start
      scanned = 0
      if length > maxLineBytes && splitLongLines {
        let piece = Array(bytes[start..<(start + maxLineBytes)])
        start += maxLineBytes
        return .line(piece)
      }
      let event: Event = length > maxLineBytes ? .tooLong(length) : .line(Array(bytes[start..<end]))
      start = newline + 1
      return event
    }
    scanned = bytes.count - start
    guard scanned > maxLineBytes else { return nil }
    if splitLongLines {
      let piece = Array(bytes[start..<(start + maxLineBytes)])
      start += maxLineBytes
      scanned = 0
      return .line(piece)
    }
    let count = scanned
    bytes.removeAll(keepingCapacity: false)
    start = 0
    scanned = 0
    discarding = true
    return .tooLong(count)
  }

  /// The unfinished last line, if any (at end of stream), emptying the buffer.
  mutating func finish() -> [UInt8]? {
    defer {
      bytes.removeAll()
      start = 0
      scanned = 0
      discarding = false
    }
    guard start < bytes.count else { return nil }
    return Array(bytes[start...])
  }
}
