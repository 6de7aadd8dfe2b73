/// Frames newline-delimited messages: one message per line, `\n` or `\r\n`, as MCP's stdio transport.
///
/// Lines that are empty or hold only spaces, tabs and CRs are skipped. A line longer than `maxMessageBytes` is
/// refused as soon as the buffered part exceeds the limit; its remaining bytes are dropped as they arrive, up to and
/// including the next `\n`, without being buffered. At end of input a last line without its newline is still a frame.
///
/// Scanning uses `memchr` and resumes where the previous scan stopped, so a line arriving in many chunks is scanned
/// once. Frames are ranges into the internal buffer, which only moves bytes in `append`.
public struct NewlineFramer: MessageFramer, Sendable {
  /// The largest accepted line, in bytes, not counting its `\n` or `\r\n`.
  public let maxMessageBytes: Int

  /// Buffered bytes; `readIndex` is the start of the current line.
  private var buffer = FrameBuffer()

  /// How far past `buffer.readIndex` the current line is known to hold no `\n`.
  private var scanOffset = 0

  /// `true` while the rest of an oversize line is being dropped. The buffer holds no unread bytes meanwhile.
  private var isDiscardingLine = false

  /// A framer refusing lines longer than `maxMessageBytes` (negative values count as 0).
  public init(maxMessageBytes: Int = 1 << 20) {
    self.maxMessageBytes = Swift.max(0, maxMessageBytes)
  }

  public var framing: Framing { .newline }

  /// Bytes buffered and not yet consumed (for tests and diagnostics).
  var bufferedByteCount: Int { buffer.unreadCount }

  /// Capacity of the internal buffer (for tests and diagnostics).
  var bufferCapacity: Int { buffer.capacity }

  public mutating func append(_ bytes: UnsafeRawBufferPointer) {
    var bytes = bytes
    if isDiscardingLine {
      guard let newline = FrameBuffer.firstIndex(of: FrameBuffer.lineFeed, in: bytes) else { return }
      isDiscardingLine = false
      bytes = UnsafeRawBufferPointer(rebasing: bytes[(newline + 1)...])
    }
    buffer.append(bytes)
  }

  public mutating func nextEvent() -> FramerEvent? {
    while true {
      let lineStart = buffer.readIndex
      guard let newline = buffer.firstIndex(of: FrameBuffer.lineFeed, from: lineStart + scanOffset) else {
        scanOffset = buffer.unreadCount
        return refuseOversizePartialLine()
      }
      scanOffset = 0
      buffer.setReadIndex(newline + 1)
      let lineEnd = contentEnd(of: lineStart..<newline)
      let count = lineEnd - lineStart
      if count > maxMessageBytes {
        return .error(tooLarge(count))
      }
      if buffer.containsNonWhitespace(in: lineStart..<lineEnd) {
        return .frame(Frame(range: lineStart..<lineEnd))
      }
    }
  }

  /// At end of input, a last non-blank line without its newline is still a frame; the tail of an oversize line
  /// being discarded is dropped without a further report.
  public mutating func finish() -> FramerEvent? {
    if let event = nextEvent() {
      return event
    }
    if isDiscardingLine {
      isDiscardingLine = false
      return nil
    }
    let lineStart = buffer.readIndex
    let lineEnd = contentEnd(of: lineStart..<buffer.endIndex)
    buffer.consumeAll()
    scanOffset = 0
    guard buffer.containsNonWhitespace(in: lineStart..<lineEnd) else { return nil }
    return .frame(Frame(range: lineStart..<lineEnd))
  }

  /// Drops the unfinished line (or stops discarding an oversize one) and reports `stalled`; bytes appended later
  /// start a new line.
  public mutating func abandonPartialFrame() -> FramerEvent? {
    guard hasPartialFrame else { return nil }
    isDiscardingLine = false
    buffer.consumeAll()
    scanOffset = 0
    return .error(FramingError(.stalled, "incomplete line received no newline in time"))
  }

  /// `true` while non-blank bytes of an unfinished line are buffered or an oversize line is being discarded.
  public var hasPartialFrame: Bool {
    isDiscardingLine || buffer.containsNonWhitespace(in: buffer.readIndex..<buffer.endIndex)
  }

  /// Nothing to do: a line that is not a valid message holds no other line.
  public mutating func rescanLastFrame() {}

  public func withFrameBytes<R>(_ frame: Frame, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withBytes(in: frame.range, body)
  }

  /// The end of `line` without one trailing `\r`.
  private func contentEnd(of line: Range<Int>) -> Int {
    if line.upperBound > line.lowerBound, buffer[line.upperBound - 1] == FrameBuffer.carriageReturn {
      return line.upperBound - 1
    }
    return line.upperBound
  }

  /// When the unfinished line already exceeds the limit (allowing for a `\r` that its `\n` would strip), drops it,
  /// starts discarding the rest of it and returns the error; otherwise `nil`.
  private mutating func refuseOversizePartialLine() -> FramerEvent? {
    let count = buffer.unreadCount
    guard count > maxMessageBytes else { return nil }
    if count - 1 == maxMessageBytes, buffer[buffer.endIndex - 1] == FrameBuffer.carriageReturn {
      return nil
    }
    buffer.consumeAll()
    scanOffset = 0
    isDiscardingLine = true
    return .error(tooLarge(count))
  }

  /// The error for a line of at least `count` bytes.
  private func tooLarge(_ count: Int) -> FramingError {
    FramingError(
      .tooLarge, "line exceeds \(maxMessageBytes) bytes", limit: maxMessageBytes, byteCount: count)
  }
}
