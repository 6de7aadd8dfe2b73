/// Splits a byte stream into JSON-RPC message bodies, with no I/O of its own.
///
/// A framer is fed bytes as they arrive (`append`) and hands out events (`nextEvent`): a complete frame, or an
/// error after which it has already resynchronised, so the caller only reports the error and goes on. Frame bytes
/// stay valid until the next mutating call. A framer never allocates what a peer merely declares: oversize
/// messages are refused before their bytes are buffered and skipped as they stream past.
public protocol MessageFramer {
  /// The framing this framer speaks (used to answer in kind).
  var framing: Framing { get }

  /// Adds bytes read from the stream. Invalidates frames handed out earlier.
  mutating func append(_ bytes: UnsafeRawBufferPointer)

  /// The next complete frame or error, or `nil` when more bytes are needed.
  mutating func nextEvent() -> FramerEvent?

  /// Call at end of input, after `nextEvent` returned `nil`: reports a frame cut short by EOF, if any, once.
  mutating func finish() -> FramerEvent?

  /// Drops a partial frame that has made no progress for too long and resynchronises.
  /// Returns the error to report, or `nil` when nothing was pending.
  mutating func abandonPartialFrame() -> FramerEvent?

  /// `true` while bytes of an incomplete frame are buffered or being skipped.
  var hasPartialFrame: Bool { get }

  /// The last frame handed out was not a valid message: look for the start of another frame inside it and resume
  /// from there (recovers from a `Content-Length` that overstated the body). Newline framing has nothing to do.
  mutating func rescanLastFrame()

  /// Calls `body` with the bytes of `frame`. Valid only until the next mutating call.
  func withFrameBytes<R>(_ frame: Frame, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R
}

/// How messages are delimited on the wire.
public enum Framing: String, Sendable, Equatable {
  /// One JSON text per line (`\n` or `\r\n`), as MCP's stdio transport.
  case newline
  /// `Content-Length: N\r\n` headers, a blank line, then N bytes, as LSP.
  case contentLength
}

/// A complete message body inside a framer's buffer.
public struct Frame: Equatable, Sendable {
  /// Byte offsets of the body in the framer's buffer.
  public let range: Range<Int>
  public init(range: Range<Int>) { self.range = range }
  public var count: Int { range.count }
}

/// What a framer produces.
public enum FramerEvent: Equatable, Sendable {
  case frame(Frame)
  case error(FramingError)
}

/// A framing problem. The framer has resynchronised by the time it reports one.
public struct FramingError: Error, Equatable, Sendable, CustomStringConvertible {
  /// What went wrong.
  public enum Kind: String, Equatable, Sendable {
    /// A message (declared or found) larger than the limit; its bytes are skipped.
    case tooLarge
    /// A header block without a usable `Content-Length` (missing, not a number, negative, duplicated differently).
    case invalidHeader
    /// End of input in the middle of a frame.
    case truncated
    /// A partial frame made no progress before the timeout.
    case stalled
    /// Bytes between frames that do not start a header (skipped).
    case garbage
  }

  public let kind: Kind
  /// A short human-readable explanation.
  public let detail: String
  /// The size limit in force, for `tooLarge`.
  public let limit: Int?
  /// How many bytes the error concerned (declared length, skipped bytes), when known.
  public let byteCount: Int?

  public init(_ kind: Kind, _ detail: String, limit: Int? = nil, byteCount: Int? = nil) {
    self.kind = kind
    self.detail = detail
    self.limit = limit
    self.byteCount = byteCount
  }

  /// `true` when the error marks where a message was, so the peer should get an error reply (id null);
  /// `false` for bytes that were never a message (garbage between frames), which are only logged.
  public var marksMessage: Bool { kind != .garbage }

  public var description: String { "\(kind.rawValue): \(detail)" }
}
