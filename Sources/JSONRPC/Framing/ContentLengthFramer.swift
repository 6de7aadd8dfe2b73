/// Frames LSP-style messages: a header block (`Name: value` lines ended by `\r\n` or `\n`, then an empty line) with
/// a required `Content-Length`, followed by exactly that many body bytes.
///
/// Header names are case-insensitive; headers other than `Content-Length` are ignored. Errors leave the framer
/// resynchronised:
/// - a block without one usable `Content-Length` (missing, not digits, zero, two different values) is reported as
///   `invalidHeader` and parsing goes on after the block;
/// - a declared length above `maxMessageBytes` is reported as `tooLarge` before any body byte is buffered, and the
///   body is skipped as it streams past;
/// - bytes where a header should start but that do not look like one are skipped up to the next `Content-Length:`
///   and reported once per run as `garbage`;
/// - a malformed line inside a block, or a block longer than `maxHeaderBytes`, is reported as `invalidHeader`, and
///   the bytes up to the next `Content-Length:` are skipped without a further report.
///
/// Blank lines between messages are skipped silently. Frames are ranges into the internal buffer, which only moves
/// bytes in `append`; `rescanLastFrame` relies on that to step back into the frame it handed out last.
public struct ContentLengthFramer: MessageFramer, Sendable {
  /// The largest accepted body, in bytes.
  public let maxMessageBytes: Int

  /// The largest accepted header block, in bytes, from its first line through its terminating empty line.
  public let maxHeaderBytes: Int

  /// What the framer expects at `buffer.readIndex`.
  enum State: Equatable, Sendable {
    /// A header block, possibly preceded by blank lines.
    case header
    /// A body of `length` bytes.
    case body(length: Int)
    /// The rest of an oversize body, dropped as it arrives.
    case skipping(remaining: Int)
    /// Anything: bytes are skipped up to the next `Content-Length:`.
    case resync
  }

  // The parsing state below is internal, not private, only so that the header block (ContentLengthFramer+Header) and
  // the resynchronisation (ContentLengthFramer+Resync) can live in files of their own; nothing else touches it.

  /// Buffered bytes; `readIndex` is where the current state's bytes begin.
  var buffer = FrameBuffer()
  /// What the bytes at `buffer.readIndex` are expected to be.
  var state = State.header
  /// Progress through the header block being read.
  var header = HeaderProgress()

  /// Bytes skipped so far in the current resync run.
  var skippedBytes = 0
  /// Whether the current resync run is reported as garbage when it ends (not when an error already covers it).
  var reportsSkippedBytes = true

  /// The range of the frame returned by the latest `nextEvent`, until the next mutating call.
  var lastFrame: Range<Int>?

  /// A framer refusing bodies over `maxMessageBytes` and header blocks over `maxHeaderBytes` (negative values
  /// count as 0).
  public init(maxMessageBytes: Int = 1 << 20, maxHeaderBytes: Int = 8 << 10) {
    self.maxMessageBytes = Swift.max(0, maxMessageBytes)
    self.maxHeaderBytes = Swift.max(0, maxHeaderBytes)
  }

  public var framing: Framing { .contentLength }

  /// Bytes buffered and not yet consumed (for tests and diagnostics).
  var bufferedByteCount: Int { buffer.unreadCount }

  /// Capacity of the internal buffer (for tests and diagnostics).
  var bufferCapacity: Int { buffer.capacity }

  public mutating func append(_ bytes: UnsafeRawBufferPointer) {
    lastFrame = nil
    var bytes = bytes
    if case .skipping(var remaining) = state {
      let buffered = Swift.min(remaining, buffer.unreadCount)
      buffer.setReadIndex(buffer.readIndex + buffered)
      remaining -= buffered
      let incoming = Swift.min(remaining, bytes.count)
      bytes = UnsafeRawBufferPointer(rebasing: bytes[incoming...])
      remaining -= incoming
      state = remaining == 0 ? .header : .skipping(remaining: remaining)
    }
    buffer.append(bytes)
  }

  public mutating func nextEvent() -> FramerEvent? {
    lastFrame = nil
    while true {
      switch state {
      case .header:
        if let event = readHeader() {
          return event
        }
        guard state != .header else { return nil }
      case .body(let length):
        let start = buffer.readIndex
        guard buffer.endIndex - start >= length else { return nil }
        let range = start..<(start + length)
        buffer.setReadIndex(range.upperBound)
        state = .header
        lastFrame = range
        return .frame(Frame(range: range))
      case .skipping(let remaining):
        let skipped = Swift.min(remaining, buffer.unreadCount)
        buffer.setReadIndex(buffer.readIndex + skipped)
        guard skipped == remaining else {
          state = .skipping(remaining: remaining - skipped)
          return nil
        }
        state = .header
      case .resync:
        if let event = resync() {
          return event
        }
        guard state != .resync else { return nil }
      }
    }
  }

  /// At end of input, a message cut inside its header block (non-whitespace buffered) or its body is reported as
  /// `truncated`, a pending garbage run as `garbage`; the rest of an oversize body being skipped is not reported again.
  public mutating func finish() -> FramerEvent? {
    if let event = nextEvent() {
      return event
    }
    let pendingBytes = buffer.unreadCount
    let midHeader = state == .header && hasPartialFrame
    let wasState = state
    buffer.consumeAll()
    header = HeaderProgress()
    state = .header
    switch wasState {
    case .header:
      guard midHeader else { return nil }
      return .error(FramingError(.truncated, "end of input inside a header block"))
    case .body(let length):
      let detail = "end of input after \(pendingBytes) of \(length) body bytes"
      return .error(FramingError(.truncated, detail, byteCount: length))
    case .skipping:
      return nil
    case .resync:
      let count = skippedBytes.addingReportingOverflow(pendingBytes)
      let reports = reportsSkippedBytes
      endResyncRun()
      guard reports, count.partialValue > 0 else { return nil }
      return .error(garbage(count.overflow ? Int.max : count.partialValue))
    }
  }

  /// Drops a partial header block or body, or stops skipping an oversize body, and reports `stalled`. Bytes appended
  /// later are skipped up to the next `Content-Length:`.
  public mutating func abandonPartialFrame() -> FramerEvent? {
    guard hasPartialFrame else { return nil }
    lastFrame = nil
    buffer.consumeAll()
    header = HeaderProgress()
    state = .resync
    endResyncRun()
    return .error(FramingError(.stalled, "incomplete message made no progress in time"))
  }

  /// `true` mid-header (non-whitespace buffered), mid-body, or while an oversize body is being skipped.
  public var hasPartialFrame: Bool {
    switch state {
    case .header: header.started || buffer.containsNonWhitespace(in: buffer.readIndex..<buffer.endIndex)
    case .body, .skipping: true
    case .resync: false
    }
  }

  /// Looks for `Content-Length:` (any case) inside the frame returned by the latest `nextEvent`, from its second
  /// byte on, and resumes header parsing there, so the frame's tail and the bytes after it are read again. Does
  /// nothing when there is no such marker, or when another mutating call came after that frame.
  public mutating func rescanLastFrame() {
    guard let frame = lastFrame else { return }
    lastFrame = nil
    let firstStart = frame.lowerBound + 1
    guard firstStart < frame.upperBound else { return }
    switch findMarker(startingIn: firstStart..<frame.upperBound) {
    case .found(let start):
      buffer.setReadIndex(start)
      header = HeaderProgress()
      state = .header
    case .partial(let start):
      // A prefix of the marker ends the frame: the next frame's header cut by the end of the buffer, or the bad
      // body's own last bytes. Resynchronising from it (not parsing a header) serves both: the marker is found
      // where the next bytes complete it, or further on, and the prefix is skipped silently (the body's error
      // covers it).
      buffer.setReadIndex(start)
      header = HeaderProgress()
      state = .resync
      endResyncRun()
      reportsSkippedBytes = false
    case .notFound:
      break
    }
  }

  public func withFrameBytes<R>(_ frame: Frame, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try buffer.withBytes(in: frame.range, body)
  }
}
