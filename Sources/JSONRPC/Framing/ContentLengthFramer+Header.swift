/// The header block of a Content-Length frame: its lines, the `Content-Length` value, the errors a block can have.
extension ContentLengthFramer {
  /// The `Content-Length` values seen in the current header block.
  enum DeclaredLength: Equatable, Sendable {
    /// None yet.
    case absent
    /// A valid number.
    case value(Int)
    /// Digits whose value does not fit in `Int`.
    case overflow
  }

  /// How a header line begins, judged from its first bytes.
  enum LineStart {
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

  /// Run-specific progress within a header block, reset when a block ends.
  struct HeaderProgress: Sendable {
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

  /// Advances through the header block at `buffer.readIndex`. Returns an event, or `nil` with the state unchanged
  /// when more bytes are needed, or `nil` with a new state to continue in.
  mutating func readHeader() -> FramerEvent? {
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
  mutating func classifyLine(at lineStart: Int, blockStart: Int) -> LineStart {
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
  mutating func readHeaderLine(name: Range<Int>, value: Range<Int>) {
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
  func isContentLength(_ name: Range<Int>) -> Bool {
    let expected = ContentLengthFramer.marker
    guard name.count == expected.count - 1 else { return false }
    for offset in 0..<name.count where FrameBuffer.lowercased(buffer[name.lowerBound + offset]) != expected[offset] {
      return false
    }
    return true
  }

  /// The value of ASCII digits surrounded by optional spaces and tabs, or `nil` when the bytes are anything else.
  func parseLength(_ value: Range<Int>) -> DeclaredLength? {
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
  mutating func noteProblem(_ detail: String) {
    if header.problem == nil {
      header.problem = detail
    }
  }

  /// The empty line ending the block is at `blockEnd - 1`: decides what the block announces.
  mutating func endBlock(at blockEnd: Int) -> FramerEvent? {
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
  mutating func malformedLine(at lineStart: Int) -> FramerEvent? {
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
  mutating func headerTooLong() -> FramerEvent? {
    header = HeaderProgress()
    buffer.setReadIndex(buffer.readIndex + 1)
    state = .resync
    endResyncRun()
    reportsSkippedBytes = false
    return .error(FramingError(.invalidHeader, "header block exceeds \(maxHeaderBytes) bytes"))
  }
}
