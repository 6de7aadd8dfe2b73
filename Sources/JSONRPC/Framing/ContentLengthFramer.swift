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
  private enum State: Equatable, Sendable {
    /// A header block, possibly preceded by blank lines.
    case header
    /// A body of `length` bytes.
    case body(length: Int)
    /// The rest of an oversize body, dropped as it arrives.
    case skipping(remaining: Int)
    /// Anything: bytes are skipped up to the next `Content-Length:`.
    case resync
  }

  /// The `Content-Length` values seen in the current header block.
  private enum DeclaredLength: Equatable, Sendable {
    /// None yet.
    case absent
    /// A valid number.
    case value(Int)
    /// Digits whose value does not fit in `Int`.
    case overflow
  }

  /// How a header line begins, judged from its first bytes.
  private enum LineStart {
    /// Not enough bytes yet.
    case undecided
    /// A header name ended by a colon at the given offset.
    case header(colon: Int)
    /// Begins with CR or LF: the empty line ending the block, or malformed; the line's end decides.
    case lineBreak
    /// Cannot be a header line.
    case malformed
    /// The header name runs past `maxHeaderBytes`.
    case tooLong
  }

  /// Where the pattern search stopped.
  private enum PatternMatch {
    /// The full pattern starts at this offset.
    case found(Int)
    /// A prefix of the pattern starts at this offset and runs to the end of the buffered bytes.
    case partial(Int)
    /// No match starts in the searched range.
    case notFound
  }

  /// Run-specific progress within a header block, reset when a block ends.
  private struct HeaderProgress: Sendable {
    /// `true` once the block's first non-whitespace byte is at `buffer.readIndex`.
    var started = false
    /// Offset of the current line from the block start.
    var lineOffset = 0
    /// Offset from the block start up to which the current line holds no `\n`.
    var scanOffset = 0
    /// Offset from the block start up to which the current line's bytes are known to be header name bytes.
    var nameOffset = 0
    /// Offset of the current line's colon from the block start, once the line is known to be a header.
    var colonOffset: Int?
    /// The `Content-Length` seen so far.
    var declared = DeclaredLength.absent
    /// The first problem found in the block.
    var problem: String?
  }

  /// `content-length:` in lower case, the marker searched for when resynchronising.
  private static let marker: [UInt8] = Array("content-length:".utf8)

  /// Buffered bytes; `readIndex` is where the current state's bytes begin.
  private var buffer = FrameBuffer()
  /// What the bytes at `buffer.readIndex` are expected to be.
  private var state = State.header
  /// Progress through the header block being read.
  private var header = HeaderProgress()

  /// Bytes skipped so far in the current resync run.
  private var skippedBytes = 0
  /// Whether the current resync run is reported as garbage when it ends (not when an error already covers it).
  private var reportsSkippedBytes = true

  /// The range of the frame returned by the latest `nextEvent`, until the next mutating call.
  private var lastFrame: Range<Int>?

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

  // MARK: - Header block

  /// Advances through the header block at `buffer.readIndex`. Returns an event, or `nil` with the state unchanged
  /// when more bytes are needed, or `nil` with a new state to continue in.
  private mutating func readHeader() -> FramerEvent? {
    if !header.started {
      var index = buffer.readIndex
      let end = buffer.endIndex
      while index < end, FrameBuffer.isWhitespace(buffer[index]) {
        index += 1
      }
      buffer.setReadIndex(index)
      guard index < end else { return nil }
      header.started = true
    }
    let blockStart = buffer.readIndex
    while true {
      let lineStart = blockStart + header.lineOffset
      if header.colonOffset == nil {
        switch classifyLine(at: lineStart, blockStart: blockStart) {
        case .undecided:
          return nil
        case .header(let colon):
          header.colonOffset = colon - blockStart
        case .lineBreak:
          break
        case .malformed:
          return malformedLine(at: lineStart)
        case .tooLong:
          return headerTooLong()
        }
      }
      guard let newline = buffer.firstIndex(of: FrameBuffer.lineFeed, from: blockStart + header.scanOffset) else {
        header.scanOffset = buffer.endIndex - blockStart
        return header.scanOffset > maxHeaderBytes ? headerTooLong() : nil
      }
      guard newline + 1 - blockStart <= maxHeaderBytes else { return headerTooLong() }
      var lineEnd = newline
      if lineEnd > lineStart, buffer[lineEnd - 1] == FrameBuffer.carriageReturn {
        lineEnd -= 1
      }
      if let colonOffset = header.colonOffset {
        readHeaderLine(name: lineStart..<(blockStart + colonOffset), value: (blockStart + colonOffset + 1)..<lineEnd)
      } else if lineEnd == lineStart {
        return endBlock(at: newline + 1)
      } else {
        return malformedLine(at: lineStart)
      }
      header.lineOffset = newline + 1 - blockStart
      header.scanOffset = header.lineOffset
      header.nameOffset = header.lineOffset
      header.colonOffset = nil
    }
  }

  /// Judges the line at `lineStart` from its name: token bytes ended by a colon make a header line. Resumes where
  /// the previous call on the same line stopped.
  private mutating func classifyLine(at lineStart: Int, blockStart: Int) -> LineStart {
    let end = buffer.endIndex
    guard lineStart < end else { return .undecided }
    let first = buffer[lineStart]
    if first == FrameBuffer.carriageReturn || first == FrameBuffer.lineFeed {
      return .lineBreak
    }
    let (limit, limitOverflow) = blockStart.addingReportingOverflow(maxHeaderBytes)
    let scanEnd = limitOverflow ? end : Swift.min(end, limit)
    var index = Swift.max(lineStart, blockStart + header.nameOffset)
    while index < scanEnd {
      let byte = buffer[index]
      if byte == FrameBuffer.colon {
        return index > lineStart ? .header(colon: index) : .malformed
      }
      guard FrameBuffer.isTokenByte(byte) else { return .malformed }
      index += 1
    }
    header.nameOffset = index - blockStart
    return scanEnd < end ? .tooLong : .undecided
  }

  /// Records a complete header line. Only `Content-Length` matters; other headers are ignored.
  private mutating func readHeaderLine(name: Range<Int>, value: Range<Int>) {
    guard isContentLength(name) else { return }
    guard let parsed = parseLength(value) else {
      noteProblem("Content-Length is not a decimal number")
      return
    }
    if parsed == .value(0) {
      noteProblem("Content-Length is 0")
    }
    if header.declared == .absent {
      header.declared = parsed
    } else if header.declared != parsed {
      noteProblem("conflicting Content-Length headers")
    }
  }

  /// `true` when the bytes in `name` spell `Content-Length` in any case.
  private func isContentLength(_ name: Range<Int>) -> Bool {
    let expected = ContentLengthFramer.marker
    guard name.count == expected.count - 1 else { return false }
    for offset in 0..<name.count where FrameBuffer.lowercased(buffer[name.lowerBound + offset]) != expected[offset] {
      return false
    }
    return true
  }

  /// The value of ASCII digits surrounded by optional spaces and tabs, or `nil` when the bytes are anything else.
  private func parseLength(_ value: Range<Int>) -> DeclaredLength? {
    var start = value.lowerBound
    var end = value.upperBound
    while start < end, FrameBuffer.isSpaceOrTab(buffer[start]) {
      start += 1
    }
    while end > start, FrameBuffer.isSpaceOrTab(buffer[end - 1]) {
      end -= 1
    }
    guard start < end else { return nil }
    var result = 0
    var overflowed = false
    for index in start..<end {
      let digit = buffer[index] &- UInt8(ascii: "0")
      guard digit < 10 else { return nil }
      if !overflowed {
        let (shifted, shiftOverflow) = result.multipliedReportingOverflow(by: 10)
        let (sum, sumOverflow) = shifted.addingReportingOverflow(Int(digit))
        overflowed = shiftOverflow || sumOverflow
        result = sum
      }
    }
    return overflowed ? .overflow : .value(result)
  }

  /// Keeps the first problem found in the block.
  private mutating func noteProblem(_ detail: String) {
    if header.problem == nil {
      header.problem = detail
    }
  }

  /// The empty line ending the block is at `blockEnd - 1`: decides what the block announces.
  private mutating func endBlock(at blockEnd: Int) -> FramerEvent? {
    let finished = header
    header = HeaderProgress()
    buffer.setReadIndex(blockEnd)
    if let problem = finished.problem {
      return .error(FramingError(.invalidHeader, problem))
    }
    switch finished.declared {
    case .absent:
      return .error(FramingError(.invalidHeader, "header block without Content-Length"))
    case .overflow:
      state = .skipping(remaining: Int.max)
      let detail = "declared Content-Length does not fit in an integer"
      return .error(FramingError(.tooLarge, detail, limit: maxMessageBytes))
    case .value(let length) where length > maxMessageBytes:
      state = .skipping(remaining: length)
      let detail = "declared Content-Length \(length) exceeds \(maxMessageBytes) bytes"
      return .error(FramingError(.tooLarge, detail, limit: maxMessageBytes, byteCount: length))
    case .value(let length):
      state = .body(length: length)
      return nil
    }
  }

  /// A line at `lineStart` cannot be a header line. As the block's first line it starts a garbage run; later in a
  /// block it makes the block invalid, and the skipped bytes that follow are covered by that error.
  private mutating func malformedLine(at lineStart: Int) -> FramerEvent? {
    let isFirstLine = header.lineOffset == 0
    header = HeaderProgress()
    buffer.setReadIndex(lineStart)
    state = .resync
    endResyncRun()
    if isFirstLine {
      return nil
    }
    reportsSkippedBytes = false
    return .error(FramingError(.invalidHeader, "malformed header line"))
  }

  /// The block has run past `maxHeaderBytes`: refuses it and resynchronises after its first byte.
  private mutating func headerTooLong() -> FramerEvent? {
    header = HeaderProgress()
    buffer.setReadIndex(buffer.readIndex + 1)
    state = .resync
    endResyncRun()
    reportsSkippedBytes = false
    return .error(FramingError(.invalidHeader, "header block exceeds \(maxHeaderBytes) bytes"))
  }

  // MARK: - Resynchronisation

  /// Skips bytes up to the next `Content-Length:`, keeping a partial match at the end of the buffer for the next
  /// append. Returns the garbage report when the run ends, or `nil` (with `state` still `.resync` when more bytes
  /// are needed).
  private mutating func resync() -> FramerEvent? {
    let start = buffer.readIndex
    let stop: Int
    let found: Bool
    switch findMarker(startingIn: start..<buffer.endIndex) {
    case .found(let index):
      stop = index
      found = true
    case .partial(let index):
      stop = index
      found = false
    case .notFound:
      stop = buffer.endIndex
      found = false
    }
    let (total, overflow) = skippedBytes.addingReportingOverflow(stop - start)
    skippedBytes = overflow ? Int.max : total
    buffer.setReadIndex(stop)
    guard found else { return nil }
    let count = skippedBytes
    let reports = reportsSkippedBytes
    endResyncRun()
    state = .header
    guard reports, count > 0 else { return nil }
    return .error(garbage(count))
  }

  /// Resets the counters of a resync run.
  private mutating func endResyncRun() {
    skippedBytes = 0
    reportsSkippedBytes = true
  }

  /// The report for `count` skipped bytes.
  private func garbage(_ count: Int) -> FramingError {
    FramingError(.garbage, "skipped \(count) bytes that do not start a header", byteCount: count)
  }

  /// The first `content-length:` (any case) starting at an offset in `starts`; the comparison may read past
  /// `starts` up to the end of the buffered bytes.
  private func findMarker(startingIn starts: Range<Int>) -> PatternMatch {
    let marker = ContentLengthFramer.marker
    let end = buffer.endIndex
    let first = marker[0]
    var index = starts.lowerBound
    while index < starts.upperBound {
      if FrameBuffer.lowercased(buffer[index]) == first {
        var matched = 1
        while matched < marker.count, index + matched < end,
          FrameBuffer.lowercased(buffer[index + matched]) == marker[matched]
        {
          matched += 1
        }
        if matched == marker.count {
          return .found(index)
        }
        if index + matched == end {
          return .partial(index)
        }
      }
      index += 1
    }
    return .notFound
  }
}
