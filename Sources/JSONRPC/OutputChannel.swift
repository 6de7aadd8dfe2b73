public import JSON
import Glibc

/// Everything the server sends, framed the way the client frames, gathered per burst and written in one go.
///
/// Owned by the server's loop thread. Messages are written into one buffer (`writer`); a message started with
/// ``beginMessage()`` is framed by ``endMessage(_:)`` (a newline, or a `Content-Length` header inserted in front).
/// Notifications raised while a request is being answered are held aside and sent right after that answer.
///
/// Messages may be *tentative*: they hold only if the owner's commit of the changes they report succeeds (see
/// ``Dispatcher/markTentative()``). Their places in the buffer are kept as marks until the commit is decided: a
/// confirmation forgets the marks, a retraction replaces each tentative answer by an error in place and drops each
/// tentative notification. A flush forgets the marks too: what was written stands.
public final class OutputChannel {
  /// How messages are delimited; settled once the client's first bytes are seen.
  public var framing: Framing
  /// The bytes waiting to be written.
  public var writer = JSONWriter(capacity: 64 * 1024)
  /// Messages (notifications, late answers) raised while a request is answered, in order, each framed.
  private var heldNotifications = JSONWriter(capacity: 1024)
  private var answering = 0
  /// Tentative messages in `writer`, in buffer order.
  private var marks: [TentativeMark] = []
  /// Tentative messages in `heldNotifications`, in buffer order.
  private var heldMarks: [TentativeMark] = []
  /// Batches with tentative answers whose array waits for a deferred member (not in any buffer yet).
  var tentativeBatches: [BatchAnswer] = []
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
      if !heldMarks.isEmpty {
        let base = writer.count
        for mark in heldMarks { marks.append(mark.shifted(by: base)) }
        heldMarks.removeAll(keepingCapacity: true)
      }
      heldNotifications.withBytes { writer.rawBytes($0) }
      heldNotifications.reset()
    }
  }

  /// Sends a notification `{"jsonrpc":"2.0","method":…,"params":…}`; `params` writes one JSON value.
  ///
  /// A `tentative` notification reports a change that holds only if the owner's commit succeeds (typically one
  /// raised by a handler that marked its answer with ``Dispatcher/markTentative()``): it is dropped when the
  /// tentative messages are retracted (``Dispatcher/retractTentative(_:)``) and sent as written otherwise.
  public func notify(_ method: StaticString, tentative: Bool = false, params: (inout JSONWriter) -> Void) {
    send(tentative: tentative) { writer in
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
  /// message is that answer. A `tentative` message is dropped when the tentative messages are retracted (see
  /// ``notify(_:tentative:params:)``).
  public func send(now: Bool = false, tentative: Bool = false, _ body: (inout JSONWriter) -> Void) {
    if tentative {
      let held = answering > 0 && !now
      sendMarked(held: held) { writer, _ in body(&writer) }
      return
    }
    if answering > 0 && !now {
      Self.writeMessage(into: &heldNotifications, framing: framing, body: body)
    } else {
      Self.writeMessage(into: &writer, framing: framing, body: body)
    }
  }

  /// Number of bytes waiting to be written.
  public var pendingByteCount: Int { writer.count }

  /// Writes everything buffered, blocking until the pipe takes it. Returns `false` when the peer has gone. Marks of
  /// tentative messages are forgotten: what is written stands.
  @discardableResult
  public func flush() -> Bool {
    if hasTentative { forgetTentative() }
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

// MARK: - Tentative messages

/// A tentative answer inside a message being written: its request id and its bytes.
typealias TentativeAnswer = (id: RPCID, range: Range<Int>)

/// A tentative message in a buffer.
struct TentativeMark {
  /// The framed message: from its header (if any) to its end (its newline, if any).
  var message: Range<Int>
  /// Its JSON text.
  var body: Range<Int>
  /// The answer that an error replaces on retraction (the whole body, or one element of a batch array); `nil`: the
  /// whole message is dropped on retraction (a notification).
  var answer: TentativeAnswer?

  func shifted(by offset: Int) -> TentativeMark {
    TentativeMark(
      message: message.lowerBound + offset..<message.upperBound + offset,
      body: body.lowerBound + offset..<body.upperBound + offset,
      answer: answer.map { ($0.id, $0.range.lowerBound + offset..<$0.range.upperBound + offset) })
  }
}

extension OutputChannel {
  /// `true` while tentative messages wait for the owner's decision (in a buffer, or in a batch whose array waits).
  public var hasTentative: Bool { !marks.isEmpty || !heldMarks.isEmpty || !tentativeBatches.isEmpty }

  /// Frames the message started at `start`, which is the answer to request `id` and is tentative.
  func endMessage(_ start: Int, tentativeAnswer id: RPCID) {
    let bodyLength = writer.count - start
    Self.frame(&writer, from: start, framing: framing)
    Self.record(
      start: start, bodyLength: bodyLength, end: writer.count, framing: framing,
      answers: [(id, start..<start + bodyLength)], into: &marks)
  }

  /// Sends one tentative message that `body` writes (to `heldNotifications` when `held`). `body` lists the tentative
  /// answers it wrote (ids and byte ranges in the writer it is given): on retraction they are replaced by errors; when
  /// it lists none, the whole message is dropped.
  func sendMarked(held: Bool, _ body: (inout JSONWriter, inout [TentativeAnswer]) -> Void) {
    if held {
      Self.writeMarkedMessage(into: &heldNotifications, marks: &heldMarks, framing: framing, body: body)
    } else {
      Self.writeMarkedMessage(into: &writer, marks: &marks, framing: framing, body: body)
    }
  }

  /// Sends a batch's answer array, some of whose elements are tentative (`batch.tentative`); their marks move into
  /// the buffer.
  func sendBatch(_ batch: BatchAnswer, now: Bool) {
    let tentative = batch.tentative
    sendMarked(held: answering > 0 && !now) { writer, answers in
      writer.beginArray()
      var next = 0
      for (index, part) in batch.parts.enumerated() {
        part.withUnsafeBytes { writer.rawValue($0) }
        if next < tentative.count && tentative[next].part == index {
          answers.append((tentative[next].id, writer.count - part.count..<writer.count))
          next += 1
        }
      }
      writer.endArray()
    }
    batch.tentative = []
    tentativeBatches.removeAll { $0 === batch }
  }

  /// The commit succeeded: forgets every mark; the messages stand as written.
  func forgetTentative() {
    marks.removeAll(keepingCapacity: true)
    heldMarks.removeAll(keepingCapacity: true)
    for batch in tentativeBatches { batch.tentative = [] }
    tentativeBatches.removeAll()
  }

  /// The commit failed: every tentative answer is replaced, in place, by what `replacement` writes for its id (one
  /// JSON value, the error response), every tentative notification is dropped, and the marks are forgotten. Bytes
  /// around them are left as they are; a message whose length changes gets a new `Content-Length` header. Returns
  /// the ids whose answers were replaced: those in the buffer in buffer order, then those in batches still waiting.
  func retractTentative(_ replacement: (RPCID, inout JSONWriter) -> Void) -> [RPCID] {
    var retracted: [RPCID] = []
    if !marks.isEmpty {
      Self.rewrite(&writer, marks: marks, framing: framing, replacement: replacement, retracted: &retracted)
    }
    if !heldMarks.isEmpty {
      Self.rewrite(
        &heldNotifications, marks: heldMarks, framing: framing, replacement: replacement, retracted: &retracted)
    }
    for batch in tentativeBatches {
      for (part, id) in batch.tentative {
        var error = JSONWriter(capacity: 256)
        replacement(id, &error)
        batch.parts[part] = error.bytes
        retracted.append(id)
      }
    }
    forgetTentative()
    return retracted
  }

  private static func writeMarkedMessage(
    into writer: inout JSONWriter, marks: inout [TentativeMark], framing: Framing,
    body: (inout JSONWriter, inout [TentativeAnswer]) -> Void
  ) {
    let start = writer.count
    writer.truncate(to: start)
    var answers: [TentativeAnswer] = []
    body(&writer, &answers)
    let bodyLength = writer.count - start
    frame(&writer, from: start, framing: framing)
    record(start: start, bodyLength: bodyLength, end: writer.count, framing: framing, answers: answers, into: &marks)
  }

  /// Records the message framed from `start` to `end`, whose body was `bodyLength` bytes written at `start` before
  /// framing (`answers` are positions from then: a `Content-Length` header moved them).
  private static func record(
    start: Int, bodyLength: Int, end: Int, framing: Framing, answers: [TentativeAnswer],
    into marks: inout [TentativeMark]
  ) {
    let bodyEnd = framing == .newline ? end - 1 : end
    let bodyStart = bodyEnd - bodyLength
    let shift = bodyStart - start
    let message = start..<end
    let body = bodyStart..<bodyEnd
    if answers.isEmpty {
      marks.append(TentativeMark(message: message, body: body, answer: nil))
    }
    for (id, range) in answers {
      marks.append(
        TentativeMark(message: message, body: body, answer: (id, range.lowerBound + shift..<range.upperBound + shift)))
    }
  }

  /// Rewrites `writer` from the first marked message on: unmarked bytes are copied as they are, marked answers are
  /// replaced and their messages framed again, marked notifications are left out.
  private static func rewrite(
    _ writer: inout JSONWriter, marks: [TentativeMark], framing: Framing,
    replacement: (RPCID, inout JSONWriter) -> Void, retracted: inout [RPCID]
  ) {
    let base = marks[0].message.lowerBound
    let count = writer.count
    guard base < count else { return }
    let old: [UInt8] = writer.withBytes { Array($0[base...]) }
    writer.truncate(to: base)
    old.withUnsafeBytes { old in
      /// Copies the old bytes at `range` (positions in the buffer before the rewrite).
      func copy(_ range: Range<Int>, to writer: inout JSONWriter) {
        guard !range.isEmpty else { return }
        writer.rawBytes(UnsafeRawBufferPointer(rebasing: old[range.lowerBound - base..<range.upperBound - base]))
      }
      var cursor = base
      var index = 0
      while index < marks.count {
        let message = marks[index].message
        var end = index + 1
        while end < marks.count && marks[end].message == message { end += 1 }
        defer { index = end }
        // Marks always lie in order inside the buffer; anything else is left alone.
        guard message.lowerBound >= cursor, message.upperBound <= count else { continue }
        copy(cursor..<message.lowerBound, to: &writer)
        cursor = message.upperBound
        let group = marks[index..<end]
        if group.contains(where: { $0.answer == nil }) { continue }
        let start = writer.count
        var position = group.first!.body.lowerBound
        for mark in group {
          let (id, range) = mark.answer!
          copy(position..<range.lowerBound, to: &writer)
          writer.truncate(to: writer.count)  // no comma: the separators are among the copied bytes
          replacement(id, &writer)
          retracted.append(id)
          position = range.upperBound
        }
        copy(position..<group.first!.body.upperBound, to: &writer)
        frame(&writer, from: start, framing: framing)
      }
      copy(cursor..<count, to: &writer)
    }
  }
}
