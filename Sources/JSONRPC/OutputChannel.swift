public import JSON
import Glibc

/// Everything the server sends, framed the way the client frames, gathered per burst and written in one go.
///
/// Owned by the server's loop thread. Messages are written into one buffer (`writer`); a message started with
/// ``beginMessage()`` is framed by ``endMessage(_:)`` (a newline, or a `Content-Length` header inserted in front).
/// Notifications raised while a request is being answered are held aside and sent right after that answer.
public final class OutputChannel {
  /// How messages are delimited; settled once the client's first bytes are seen.
  public var framing: Framing
  /// The bytes waiting to be written.
  public var writer = JSONWriter(capacity: 64 * 1024)
  /// Messages (notifications, late answers) raised while a request is answered, in order, each framed.
  private var heldNotifications = JSONWriter(capacity: 1024)
  private var answering = 0
  private let fd: Int32
  /// Set when the peer stopped reading (EPIPE): nothing more can be delivered.
  public private(set) var isClosed = false

  public init(fd: Int32, framing: Framing = .newline) {
    self.fd = fd
    self.framing = framing
  }

  /// Starts a message in the buffer; returns its start for ``endMessage(_:)`` or ``cancelMessage(_:)``.
  public func beginMessage() -> Int {
    let start = writer.count
    writer.truncate(to: start)
    return start
  }

  /// Frames the message started at `start`.
  public func endMessage(_ start: Int) {
    Self.frame(&writer, from: start, framing: framing)
  }

  /// Forgets a message started at `start` (nothing to send after all).
  public func cancelMessage(_ start: Int) {
    writer.truncate(to: start)
  }

  /// Marks the start of answering a request: notifications raised from now on wait for the answer.
  public func beginAnswering() { answering += 1 }

  /// Marks the end of answering: held notifications follow the answer.
  public func endAnswering() {
    answering -= 1
    if answering == 0, heldNotifications.count > 0 {
      heldNotifications.withBytes { writer.rawBytes($0) }
      heldNotifications.reset()
    }
  }

  /// Sends a notification `{"jsonrpc":"2.0","method":…,"params":…}`; `params` writes one JSON value.
  public func notify(_ method: StaticString, params: (inout JSONWriter) -> Void) {
    send { writer in
      writer.beginObject()
      writer.key("jsonrpc")
      writer.string("2.0")
      writer.key("method")
      writer.string(method)
      writer.key("params")
      params(&writer)
      writer.endObject()
    }
  }

  /// Sends one complete message that `body` writes (a notification, a late answer). While a request is being
  /// answered it is held and follows that answer, unless `now` says the writer is at a message boundary and the
  /// message is that answer.
  public func send(now: Bool = false, _ body: (inout JSONWriter) -> Void) {
    if answering > 0 && !now {
      Self.writeMessage(into: &heldNotifications, framing: framing, body: body)
    } else {
      Self.writeMessage(into: &writer, framing: framing, body: body)
    }
  }

  /// Number of bytes waiting to be written.
  public var pendingByteCount: Int { writer.count }

  /// Writes everything buffered, blocking until the pipe takes it. Returns `false` when the peer has gone.
  @discardableResult
  public func flush() -> Bool {
    guard writer.count > 0 else { return !isClosed }
    defer { writer.reset() }
    guard !isClosed else { return false }
    let ok = writer.withBytes { buffer -> Bool in
      var offset = 0
      while offset < buffer.count {
        let written = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
        if written > 0 {
          offset += written
        } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
          if errno == EAGAIN { Self.waitWritable(fd) }
          continue
        } else {
          return false
        }
      }
      return true
    }
    if !ok { isClosed = true }
    return ok
  }

  private static func waitWritable(_ fd: Int32) {
    var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
    _ = poll(&descriptor, 1, 1000)
  }

  private static func writeMessage(
    into writer: inout JSONWriter, framing: Framing, body: (inout JSONWriter) -> Void
  ) {
    let start = writer.count
    writer.truncate(to: start)
    body(&writer)
    frame(&writer, from: start, framing: framing)
  }

  /// Frames the bytes from `start` to the end of `writer` as one message.
  static func frame(_ writer: inout JSONWriter, from start: Int, framing: Framing) {
    switch framing {
    case .newline:
      writer.rawByte(UInt8(ascii: "\n"))
    case .contentLength:
      let length = writer.count - start
      var header = Array("Content-Length: ".utf8)
      header.append(contentsOf: String(length).utf8)
      header.append(contentsOf: [0x0D, 0x0A, 0x0D, 0x0A])
      header.withUnsafeBytes { writer.insert($0, at: start) }
    }
    writer.truncate(to: writer.count)
  }
}
