import Glibc
import JSON
import Logging
import Testing

@testable import JSONRPC

/// Tentative answers: a handler marks its answer as holding only if the owner's commit succeeds; a confirmation
/// leaves the output as it is, a retraction turns exactly those answers into errors in place (in both framings, inside
/// batch arrays too) and drops the notifications sent as tentative.
@Suite("Tentative answers")
struct TentativeAnswerTests {
  static let notDurable = RPCError(RPCErrorCode(rawValue: -32001), "not durable")

  /// The error response a retraction writes for `id` (as `RPCID.write` spells it).
  static func errorText(_ id: String) -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"error":{"code":-32001,"message":"not durable"}}"#
  }

  /// A dispatcher writing into an unflushed output channel (or a pipe), with methods that mark their answers.
  final class Fixture {
    let output: OutputChannel
    let dispatcher: Dispatcher
    var waiting: [PendingReply] = []

    init(framing: Framing = .newline, fd: Int32 = -1) {
      output = OutputChannel(fd: fd, framing: framing)
      dispatcher = Dispatcher(output: output, logger: Logger(label: "test"))
      // A change: its answer is tentative; with `notify`, it also sends a tentative notification and an ordinary one.
      dispatcher.register("change") { [unowned self] request, result throws(RPCError) in
        #expect(!dispatcher.isAnswerTentative)
        dispatcher.markTentative()
        // Sent as a notification, the request has no answer to mark.
        #expect(dispatcher.isAnswerTentative == !request.isNotification)
        let value = request.params?["value"]?.int64 ?? 0
        if request.params?["notify"]?.bool == true {
          output.notify("changed", tentative: dispatcher.isAnswerTentative) { $0.int(value) }
          output.notify("event") { $0.int(value) }
        }
        result.int(value)
      }
      dispatcher.register("read") { request, result throws(RPCError) in
        result.string("read")
      }
      // Marks, then fails: the answer is the error, not tentative.
      dispatcher.register("failing") { [unowned self] _, _ throws(RPCError) in
        dispatcher.markTentative()
        throw RPCError.internalError("failed")
      }
      // A notification handler cannot mark anything.
      dispatcher.registerNotification("touch") { [unowned self] _ in dispatcher.markTentative() }
      dispatcher.registerDeferred("later") { [unowned self] _, reply throws(RPCError) in
        dispatcher.markTentative()
        waiting.append(reply)
      }
    }

    /// Feeds messages one by one, appending their answers to the buffer.
    func feed(_ texts: String...) {
      for text in texts {
        var text = text
        text.withUTF8 { _ = dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
      }
    }

    var bytes: [UInt8] { output.writer.bytes }

    /// The bodies of the messages in the buffer.
    var messages: [String] { TentativeAnswerTests.bodies(bytes, framing: output.framing) }

    func retract() -> [RPCID] {
      dispatcher.retractTentative { _ in TentativeAnswerTests.notDurable }
    }
  }

  /// Splits a framed stream into message bodies, checking each frame (newline, or an exact `Content-Length`).
  static func bodies(_ bytes: [UInt8], framing: Framing) -> [String] {
    var bodies: [String] = []
    switch framing {
    case .newline:
      #expect(bytes.last == UInt8(ascii: "\n") || bytes.isEmpty)
      for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast() {
        bodies.append(String(decoding: line, as: UTF8.self))
      }
    case .contentLength:
      var rest = bytes[...]
      let prefix = Array("Content-Length: ".utf8)
      while !rest.isEmpty {
        guard rest.starts(with: prefix) else {
          Issue.record("no header at \(String(decoding: rest, as: UTF8.self))")
          return bodies
        }
        rest = rest.dropFirst(prefix.count)
        let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        rest = rest.dropFirst(digits.count)
        guard let length = Int(String(decoding: digits, as: UTF8.self)), rest.starts(with: [13, 10, 13, 10]),
          rest.count >= 4 + length
        else {
          Issue.record("bad header before \(String(decoding: rest, as: UTF8.self))")
          return bodies
        }
        rest = rest.dropFirst(4)
        bodies.append(String(decoding: rest.prefix(length), as: UTF8.self))
        rest = rest.dropFirst(length)
      }
    }
    return bodies
  }

  /// `bodies` framed the way the output frames them.
  static func framed(_ bodies: [String], framing: Framing) -> [UInt8] {
    var bytes: [UInt8] = []
    for body in bodies {
      switch framing {
      case .newline: bytes += Array(body.utf8) + [UInt8(ascii: "\n")]
      case .contentLength: bytes += Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
      }
    }
    return bytes
  }

  @Test("retraction turns exactly the tentative answers into errors, in place", arguments: [Framing.newline, .contentLength])
  func retractMixedBurst(framing: Framing) throws {
    let fixture = Fixture(framing: framing)
    fixture.feed(
      #"{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":10}}"#,
      #"{"jsonrpc":"2.0","id":2,"method":"read"}"#,
      #"{"jsonrpc":"2.0","id":3,"method":"change","params":{"value":30,"notify":true}}"#,
      #"{"jsonrpc":"2.0","id":4,"method":"nope"}"#,
      #"{"jsonrpc":"2.0","method":"change","params":{"value":99}}"#,  // a notification: no answer, no mark
      #"{"jsonrpc":"2.0","method":"touch"}"#,
      #"{"jsonrpc":"2.0","id":5,"method":"ping"}"#,
      #"{"jsonrpc":"2.0","id":"é\n","method":"change","params":{"value":60}}"#,
      #"{"jsonrpc":"2.0","id":6,"method":"failing"}"#,
      #"{"jsonrpc":"2.0","id":7,"method":"read"}"#)
    let before = fixture.messages
    try #require(before.count == 10)
    #expect(before[0] == #"{"jsonrpc":"2.0","id":1,"result":10}"#)
    #expect(before[2] == #"{"jsonrpc":"2.0","id":3,"result":30}"#)
    #expect(before[3] == #"{"jsonrpc":"2.0","method":"changed","params":30}"#)
    #expect(before[4] == #"{"jsonrpc":"2.0","method":"event","params":30}"#)
    #expect(before[7] == #"{"jsonrpc":"2.0","id":"é\n","result":60}"#)
    #expect(fixture.dispatcher.hasTentative)

    let retracted = fixture.retract()
    #expect(retracted == [.int(1), .int(3), .string("é\n")])
    var expected = before
    expected[0] = Self.errorText("1")
    expected[2] = Self.errorText("3")
    expected[7] = Self.errorText(#""é\n""#)
    expected.remove(at: 3)  // the tentative notification
    #expect(fixture.messages == expected)
    #expect(fixture.bytes == Self.framed(expected, framing: framing))
    #expect(!fixture.dispatcher.hasTentative)
    // The marks are gone: a second retraction changes nothing.
    #expect(fixture.retract().isEmpty)
    #expect(fixture.messages == expected)
  }

  @Test("confirmation leaves the output byte for byte", arguments: [Framing.newline, .contentLength])
  func confirm(framing: Framing) {
    let fixture = Fixture(framing: framing)
    fixture.feed(
      #"{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":1,"notify":true}}"#,
      #"[{"jsonrpc":"2.0","id":2,"method":"change"},{"jsonrpc":"2.0","id":3,"method":"read"}]"#,
      #"{"jsonrpc":"2.0","id":4,"method":"read"}"#)
    let before = fixture.bytes
    #expect(fixture.dispatcher.hasTentative)
    fixture.dispatcher.confirmTentative()
    #expect(!fixture.dispatcher.hasTentative)
    #expect(fixture.bytes == before)
    #expect(fixture.retract().isEmpty)
    #expect(fixture.bytes == before)
  }

  @Test("inside a batch only the tentative elements are replaced", arguments: [Framing.newline, .contentLength])
  func batch(framing: Framing) throws {
    let fixture = Fixture(framing: framing)
    fixture.feed(
      #"{"jsonrpc":"2.0","id":"a","method":"read"}"#,
      #"[{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":1}},{"jsonrpc":"2.0","id":2,"method":"read"},"#
        + #"{"jsonrpc":"2.0","method":"change"},{"jsonrpc":"2.0","id":3,"method":"change","params":{"value":3,"notify":true}},"#
        + #"{"jsonrpc":"2.0","id":4,"method":"nope"},{"jsonrpc":"2.0","id":5,"method":"change","params":{"value":5}}]"#,
      #"{"jsonrpc":"2.0","id":"b","method":"change","params":{"value":7}}"#)
    let before = fixture.messages
    try #require(before.count == 5)
    let array = before[1]
    #expect(array.hasPrefix(#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":"read"},"#))
    #expect(before[2] == #"{"jsonrpc":"2.0","method":"changed","params":3}"#)
    #expect(before[3] == #"{"jsonrpc":"2.0","method":"event","params":3}"#)

    #expect(fixture.retract() == [.int(1), .int(3), .int(5), .string("b")])
    let expectedArray = array
      .replacing(#"{"jsonrpc":"2.0","id":1,"result":1}"#, with: Self.errorText("1"))
      .replacing(#"{"jsonrpc":"2.0","id":3,"result":3}"#, with: Self.errorText("3"))
      .replacing(#"{"jsonrpc":"2.0","id":5,"result":5}"#, with: Self.errorText("5"))
    #expect(expectedArray != array)
    let expected = [before[0], expectedArray, before[3], Self.errorText(#""b""#)]
    #expect(fixture.messages == expected)
    #expect(fixture.bytes == Self.framed(expected, framing: framing))
    // The array is still valid JSON, its other elements untouched.
    let parsed = try JSONData(parsing: fixture.messages[1])
    #expect(parsed[1] == ["jsonrpc": "2.0", "id": 2, "result": "read"])
    #expect(parsed[3]?["error"]?["code"] == -32601)
  }

  @Test("a batch waiting for a deferred member gets the decision in its array")
  func waitingBatch() throws {
    for retract in [true, false] {
      let fixture = Fixture()
      fixture.feed(
        #"[{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":1}},{"jsonrpc":"2.0","id":2,"method":"later"}]"#)
      #expect(fixture.bytes.isEmpty)
      #expect(fixture.dispatcher.hasTentative)
      if retract {
        #expect(fixture.retract() == [.int(1)])
      } else {
        fixture.dispatcher.confirmTentative()
      }
      #expect(!fixture.dispatcher.hasTentative)
      fixture.dispatcher.resolve(fixture.waiting[0]) { $0.int(2) }
      let first = retract ? Self.errorText("1") : #"{"jsonrpc":"2.0","id":1,"result":1}"#
      #expect(fixture.messages == ["[\(first),{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":2}]"])
      // The deferred answer itself was never tentative.
      #expect(fixture.retract().isEmpty)
    }

    // Settled before the decision: the array is in the buffer, its element still tentative.
    let fixture = Fixture(framing: .contentLength)
    fixture.feed(
      #"[{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":1}},{"jsonrpc":"2.0","id":2,"method":"later"}]"#)
    fixture.dispatcher.resolve(fixture.waiting[0]) { $0.int(2) }
    #expect(fixture.retract() == [.int(1)])
    #expect(fixture.messages == ["[\(Self.errorText("1")),{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":2}]"])
  }

  @Test("marks do not outlive their burst: a flush or a decision forgets them")
  func noLeak() throws {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    defer {
      close(fds[0])
      close(fds[1])
    }
    let fixture = Fixture(fd: fds[1])
    func received() -> [String] {
      var buffer = [UInt8](repeating: 0, count: 65536)
      let count = read(fds[0], &buffer, buffer.count)
      return Self.bodies(Array(buffer[0..<max(0, count)]), framing: .newline)
    }

    // Flushed undecided: sent as written, and forgotten.
    fixture.feed(#"{"jsonrpc":"2.0","id":1,"method":"change","params":{"value":1}}"#)
    #expect(fixture.output.flush())
    #expect(!fixture.dispatcher.hasTentative)
    #expect(received() == [#"{"jsonrpc":"2.0","id":1,"result":1}"#])
    fixture.feed(#"{"jsonrpc":"2.0","id":2,"method":"read"}"#)
    #expect(fixture.retract().isEmpty)
    #expect(fixture.output.flush())
    #expect(received() == [#"{"jsonrpc":"2.0","id":2,"result":"read"}"#])

    // Confirmed: the next burst's retraction reaches only its own answers.
    fixture.feed(#"{"jsonrpc":"2.0","id":3,"method":"change","params":{"value":3}}"#)
    fixture.dispatcher.confirmTentative()
    #expect(fixture.output.flush())
    fixture.feed(
      #"{"jsonrpc":"2.0","id":4,"method":"change","params":{"value":4}}"#,
      #"{"jsonrpc":"2.0","id":5,"method":"read"}"#)
    #expect(fixture.retract() == [.int(4)])
    #expect(fixture.output.flush())
    #expect(
      received() == [
        #"{"jsonrpc":"2.0","id":3,"result":3}"#, Self.errorText("4"), #"{"jsonrpc":"2.0","id":5,"result":"read"}"#,
      ])

    // Outside a handler, the mark is ignored.
    fixture.dispatcher.markTentative()
    #expect(!fixture.dispatcher.isAnswerTentative)
    fixture.feed(#"{"jsonrpc":"2.0","id":6,"method":"read"}"#)
    #expect(!fixture.dispatcher.hasTentative)
  }

  @Test("a notification sent as tentative outside any answer is dropped on retraction")
  func tentativeNotification() {
    let fixture = Fixture(framing: .contentLength)
    fixture.output.notify("before") { $0.int(0) }
    fixture.output.notify("maybe", tentative: true) { $0.int(1) }
    fixture.feed(#"{"jsonrpc":"2.0","id":1,"method":"read"}"#)
    fixture.output.send(tentative: true) { $0.null() }
    #expect(fixture.messages.count == 4)
    #expect(fixture.retract().isEmpty)
    #expect(
      fixture.messages == [
        #"{"jsonrpc":"2.0","method":"before","params":0}"#, #"{"jsonrpc":"2.0","id":1,"result":"read"}"#,
      ])
  }

  /// Collects what the server's hooks saw.
  final class Observations {
    var flushes = 0
    var writtenBeforeEachFlush: [Int] = []
    var expectedWritten: [Int] = []
    var midBurst = 0
    var received: [UInt8] = []
  }

  @Test("the server calls beforeFlush before every flush, mid-burst too, with nothing of it written yet")
  func serverHook() throws {
    var input: [Int32] = [0, 0]
    var output: [Int32] = [0, 0]
    try #require(pipe(&input) == 0)
    try #require(pipe(&output) == 0)
    defer {
      close(input[0])
      close(output[0])
      close(output[1])
    }
    #expect(fcntl(output[0], F_SETFL, O_NONBLOCK) == 0)
    let channel = OutputChannel(fd: output[1])
    let dispatcher = Dispatcher(output: channel, logger: Logger(label: "test"))
    dispatcher.register("change") { [unowned dispatcher] request, result throws(RPCError) in
      dispatcher.markTentative()
      result.int(request.params?["value"]?.int64 ?? 0)
    }
    dispatcher.register("read") { _, result throws(RPCError) in result.string("read") }
    var configuration = StdioServer.Configuration()
    configuration.readChunkBytes = 4096
    configuration.flushThresholdBytes = 1
    let server = StdioServer(
      input: input[0], dispatcher: dispatcher, configuration: configuration, logger: Logger(label: "test"))

    let count = 400
    var requests = ""
    for id in 0..<count {
      requests += id % 2 == 0
        ? #"{"jsonrpc":"2.0","id":\#(id),"method":"change","params":{"value":\#(id)}}"#
        : #"{"jsonrpc":"2.0","id":\#(id),"method":"read"}"#
      requests += "\n"
    }
    try #require(requests.utf8.count > 3 * 4096 && requests.utf8.count < 60_000)
    #expect(requests.withCString { write(input[1], $0, strlen($0)) } == requests.utf8.count)
    close(input[1])

    let seen = Observations()
    let inputFD = input[0]
    let outputFD = output[0]
    server.beforeFlush = {
      seen.flushes += 1
      // Everything flushed before is in the pipe; nothing of what is buffered now.
      var buffer = [UInt8](repeating: 0, count: 65536)
      let got = read(outputFD, &buffer, buffer.count)
      if got > 0 { seen.received += buffer[0..<got] }
      seen.writtenBeforeEachFlush.append(seen.received.count)
      var unread = pollfd(fd: inputFD, events: Int16(POLLIN), revents: 0)
      _ = poll(&unread, 1, 0)
      if channel.pendingByteCount > 0 && unread.revents & Int16(POLLIN) != 0 { seen.midBurst += 1 }
      dispatcher.retractTentative { _ in TentativeAnswerTests.notDurable }
      seen.expectedWritten.append((seen.expectedWritten.last ?? 0) + channel.pendingByteCount)
    }
    #expect(server.run() == 0)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let got = read(outputFD, &buffer, buffer.count)
      if got <= 0 { break }
      seen.received += buffer[0..<got]
    }

    #expect(seen.midBurst >= 2)
    // At each call, exactly what the earlier flushes wrote had arrived.
    #expect(Array(seen.writtenBeforeEachFlush.dropFirst()) == Array(seen.expectedWritten.dropLast()))
    #expect(seen.received.count == seen.expectedWritten.last)
    let answers = Self.bodies(seen.received, framing: .newline)
    try #require(answers.count == count)
    for (id, answer) in answers.enumerated() {
      #expect(answer == (id % 2 == 0 ? Self.errorText("\(id)") : #"{"jsonrpc":"2.0","id":\#(id),"result":"read"}"#))
    }
  }
}
