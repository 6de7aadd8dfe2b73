/// Resynchronisation of a Content-Length stream: skipping to the next `Content-Length:` after bytes that are not a
/// message, and finding that marker (also inside a frame already handed out, for ``rescanLastFrame()``).
extension ContentLengthFramer {
  /// `content-length:` in lower case, the marker searched for when resynchronising.
  static let marker: [UInt8] = Array("content-length:".utf8)

  /// Where the pattern search stopped.
  enum PatternMatch {
    /// The full pattern starts at this offset.
    case found(Int)
    /// A prefix of the pattern starts at this offset and runs to the end of the buffered bytes.
    case partial(Int)
    /// No match starts in the searched range.
    case notFound
  }

  /// Skips bytes up to the next `Content-Length:`, keeping a partial match at the end of the buffer for the next
  /// append. Returns the garbage report when the run ends, or `nil` (with `state` still `.resync` when more bytes
  /// are needed).
  mutating func resync() -> FramerEvent? {
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
  mutating func endResyncRun() {
    skippedBytes = 0
    reportsSkippedBytes = true
  }

  /// The report for `count` skipped bytes.
  func garbage(_ count: Int) -> FramingError {
    FramingError(.garbage, "skipped \(count) bytes that do not start a header", byteCount: count)
  }

  /// The first `content-length:` (any case) starting at an offset in `starts`; the comparison may read past
  /// `starts` up to the end of the buffered bytes.
  func findMarker(startingIn starts: Range<Int>) -> PatternMatch {
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
