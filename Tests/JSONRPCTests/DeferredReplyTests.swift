import JSON
import Logging
import Testing

@testable import JSONRPC

/// Requests answered later: the answer goes out when the work is done (in a later burst too, in either framing, or
/// at once from inside the handler), ids stay reserved while a request waits, `$/cancelRequest` answers a waiting
/// request, a batch waits for all its members, and the session's end rejects what still waits.
@Suite("Deferred replies")
struct DeferredReplyTests {
  /// A dispatcher with deferred methods: `later`, whose replies the test settles by hand, and `immediate`, which
  /// resolves with `params.value` inside its handler and then sends the notification `after`.
  final class Fixture {
    let output: OutputChannel
    let dispatcher: Dispatcher
    var waiting: [PendingReply] = []
    var cancelled = 0

    init(framing: Framing = .newline) {
      output = OutputChannel(fd: -1, framing: framing)
      dispatcher = Dispatcher(output: output, logger: Logger(label: "test"))
      dispatcher.registerDeferred("later") { [unowned self] request, reply throws(RPCError) in
        if request.params?["fail"]?.bool == true { throw RPCError.invalidParams(field: "fail", "was asked to") }
        reply.onCancel = { [unowned self] in cancelled += 1 }
        waiting.append(reply)
      }
      dispatcher.registerDeferred("immediate") { [unowned self] request, reply throws(RPCError) in
        let value = request.params?["value"]?.int64 ?? 0
        dispatcher.resolve(reply) { $0.int(value) }
        output.notify("after") { $0.int(value) }
      }
      dispatcher.register("now") { _, result throws(RPCError) in result.string("now") }
    }

    /// Feeds messages one by one; returns the bytes written since the last call.
    func feed(_ texts: String...) -> [UInt8] {
      for text in texts {
        var text = text
        text.withUTF8 { _ = dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
      }
      return take()
    }

    /// The bytes written since the last call.
    func take() -> [UInt8] {
      let bytes = output.writer.bytes
      output.writer.reset()
      return bytes
    }

    /// Feeds one message; returns what was written since the last call, one JSON value per message.
    func send(_ text: String) -> [JSONData] {
      var text = text
      text.withUTF8 { _ = dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
      return written()
    }

    func written() -> [JSONData] {
      let text = String(decoding: output.writer.bytes, as: UTF8.self)
      output.writer.reset()
      return text.split(separator: "\n").map { (try? JSONData(parsing: String($0))) ?? .string(String($0)) }
    }

    func resolve(_ index: Int, _ value: Int64) {
      dispatcher.resolve(waiting[index]) { $0.int(value) }
    }

    func reject(_ index: Int, _ error: RPCError) {
      dispatcher.reject(waiting[index], error)
    }
  }

  /// The answer `{"jsonrpc":"2.0","id":…,"result":…}` as the dispatcher spells it.
  static func result(_ id: String, _ value: String) -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"result":\#(value)}"#
  }

  @Test("the answer goes out when the work is done")
  func later() {
    let fixture = Fixture()
    #expect(fixture.send(#"{"jsonrpc":"2.0","id":1,"method":"later"}"#).isEmpty)
    #expect(fixture.dispatcher.outstandingCount == 1)
    fixture.resolve(0, 42)
    #expect(fixture.written() == [["jsonrpc": "2.0", "id": 1, "result": 42]])
    // Settling twice writes nothing more.
    fixture.resolve(0, 43)
    #expect(fixture.written().isEmpty)
    #expect(fixture.dispatcher.outstandingCount == 0)
  }

  @Test("an id still waiting cannot be reused; the first request completes normally")
  func duplicateID() {
    let fixture = Fixture()
    _ = fixture.send(#"{"jsonrpc":"2.0","id":7,"method":"later"}"#)
    let duplicate = fixture.send(#"{"jsonrpc":"2.0","id":7,"method":"later"}"#)
    #expect(duplicate.first?["error"]?["code"] == -32600)
    #expect(duplicate.first?["error"]?["data"]?["reason"] == "duplicateId")
    #expect(duplicate.first?["id"] == 7)
    fixture.resolve(0, 1)
    #expect(fixture.written() == [["jsonrpc": "2.0", "id": 7, "result": 1]])
    // Once answered, the id may be used again.
    _ = fixture.send(#"{"jsonrpc":"2.0","id":7,"method":"later"}"#)
    #expect(fixture.dispatcher.outstandingCount == 1)
  }

  @Test("$/cancelRequest answers a waiting request with -32800 and tells its owner")
  func cancel() {
    let fixture = Fixture()
    _ = fixture.send(#"{"jsonrpc":"2.0","id":"r1","method":"later"}"#)
    let answers = fixture.send(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"r1"}}"#)
    #expect(answers.count == 1)
    #expect(answers.first?["id"] == "r1")
    #expect(answers.first?["error"]?["code"] == -32800)
    #expect(fixture.cancelled == 1)
    fixture.resolve(0, 5)
    #expect(fixture.written().isEmpty)
    // Cancelling what is not waiting does nothing.
    #expect(fixture.send(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":"r1"}}"#).isEmpty)
    #expect(fixture.send(#"{"jsonrpc":"2.0","method":"$/cancelRequest","params":{"id":99}}"#).isEmpty)
  }

  @Test("a batch answers as one array once its last deferred member is settled")
  func batch() throws {
    let fixture = Fixture()
    let sent = fixture.send(
      #"[{"jsonrpc":"2.0","id":1,"method":"later"},{"jsonrpc":"2.0","id":2,"method":"now"},"#
        + #"{"jsonrpc":"2.0","id":3,"method":"later"},{"jsonrpc":"2.0","method":"later"},{"jsonrpc":"2.0","id":4,"method":"nope"}]"#
    )
    #expect(sent.isEmpty)
    fixture.resolve(1, 30)
    fixture.resolve(2, 99)  // the notification: nothing is sent for it
    #expect(fixture.written().isEmpty)
    fixture.resolve(0, 10)
    let answers = fixture.written()
    try #require(answers.count == 1)
    let elements = try #require(answers[0].array)
    #expect(elements.count == 4)
    #expect(elements.contains(["jsonrpc": "2.0", "id": 1, "result": 10]))
    #expect(elements.contains(["jsonrpc": "2.0", "id": 2, "result": "now"]))
    #expect(elements.contains(["jsonrpc": "2.0", "id": 3, "result": 30]))
    #expect(elements.contains { $0["id"] == 4 && $0["error"]?["code"] == -32601 })
  }

  @Test("a batch of deferred notifications sends nothing")
  func notificationBatch() {
    let fixture = Fixture()
    #expect(fixture.send(#"[{"jsonrpc":"2.0","method":"later"},{"jsonrpc":"2.0","method":"later"}]"#).isEmpty)
    fixture.resolve(0, 1)
    fixture.resolve(1, 2)
    #expect(fixture.written().isEmpty)
  }

  @Test("an error thrown while starting is answered at once; the session's end rejects what still waits")
  func errorsAndEnd() {
    let fixture = Fixture()
    let refused = fixture.send(#"{"jsonrpc":"2.0","id":1,"method":"later","params":{"fail":true}}"#)
    #expect(refused.first?["error"]?["code"] == -32602)
    #expect(fixture.dispatcher.outstandingCount == 0)
    _ = fixture.send(#"{"jsonrpc":"2.0","id":2,"method":"later"}"#)
    _ = fixture.send(#"{"jsonrpc":"2.0","id":3,"method":"later"}"#)
    fixture.dispatcher.rejectOutstanding("closing")
    let answers = fixture.written()
    #expect(answers.count == 2)
    #expect(answers.allSatisfy { $0["error"]?["code"] == -32603 })
    #expect(fixture.dispatcher.outstandingCount == 0)
  }

  /// The owner's side of a server run: deferred replies with the burst they arrived in, settled by the timer in a
  /// later burst.
  final class LaterOwner {
    var burstsEnded = 0
    var waiting: [(reply: PendingReply, burst: Int)] = []
    /// What the client had received when the owner resolved.
    var receivedBeforeResolving: [UInt8]?
    let giveUp = ContinuousClock.now + .seconds(20)

    /// `true` once a reply waits from a burst that has ended.
    var hasDue: Bool { waiting.contains { $0.burst < burstsEnded } }
  }

  @Test(
    "resolved in a later burst: the answer goes out then, framed like the input",
    arguments: [Framing.newline, .contentLength])
  func laterBurst(framing: Framing) throws {
    let input = try TestPipe()
    let output = try TestPipe()
    let channel = OutputChannel(fd: output.writeFD)
    let dispatcher = Dispatcher(output: channel, logger: Logger(label: "test"))
    let server = StdioServer(input: input.readFD, dispatcher: dispatcher, logger: Logger(label: "test"))
    let owner = LaterOwner()
    dispatcher.registerDeferred("later") { [unowned owner] _, reply throws(RPCError) in
      owner.waiting.append((reply, owner.burstsEnded))
    }
    dispatcher.register("now") { _, result throws(RPCError) in result.string("now") }
    server.onBurstEnd = { [unowned owner] in owner.burstsEnded += 1 }
    server.nextTimerDeadline = { [unowned owner] in owner.hasDue ? .now : owner.giveUp }
    server.onTimer = { [unowned owner, unowned dispatcher, unowned output] in
      guard owner.hasDue else { return dispatcher.requestExit(code: 99) }
      owner.receivedBeforeResolving = output.readAvailable()
      for (reply, _) in owner.waiting { dispatcher.resolve(reply) { $0.int(42) } }
      owner.waiting.removeAll()
    }

    input.write(
      Wire.framed(
        [#"{"jsonrpc":"2.0","id":1,"method":"later"}"#, #"{"jsonrpc":"2.0","id":2,"method":"now"}"#],
        framing: framing))
    input.closeWriting()
    // At the end of input the session stays open until the waiting request is answered.
    #expect(server.run() == 0)

    #expect(owner.receivedBeforeResolving == Wire.framed([Self.result("2", #""now""#)], framing: framing))
    #expect(output.readAvailable() == Wire.framed([Self.result("1", "42")], framing: framing))
    #expect(owner.burstsEnded >= 2)
    #expect(dispatcher.outstandingCount == 0)
  }

  @Test(
    "resolved inside its own handler: the answer comes before the next answer and what was raised after it",
    arguments: [Framing.newline, .contentLength])
  func resolvedInHandler(framing: Framing) {
    let fixture = Fixture(framing: framing)
    let written = fixture.feed(
      #"{"jsonrpc":"2.0","id":1,"method":"immediate","params":{"value":7}}"#,
      #"{"jsonrpc":"2.0","id":2,"method":"now"}"#)
    let expected = [
      Self.result("1", "7"), #"{"jsonrpc":"2.0","method":"after","params":7}"#, Self.result("2", #""now""#),
    ]
    #expect(Wire.bodies(written, framing: framing) == expected)
    #expect(written == Wire.framed(expected, framing: framing))
    #expect(fixture.dispatcher.outstandingCount == 0)

    // In a batch: the array, in request order, then what the handler raised.
    let batch = fixture.feed(
      #"[{"jsonrpc":"2.0","id":3,"method":"immediate","params":{"value":3}},{"jsonrpc":"2.0","id":4,"method":"now"}]"#)
    let array = "[\(Self.result("3", "3")),\(Self.result("4", #""now""#))]"
    #expect(batch == Wire.framed([array, #"{"jsonrpc":"2.0","method":"after","params":3}"#], framing: framing))
  }

  @Test(
    "a batch of deferred requests goes out as one array, in request order, once the last is resolved",
    arguments: [Framing.newline, .contentLength])
  func deferredBatch(framing: Framing) {
    let fixture = Fixture(framing: framing)
    let sent = fixture.feed(
      #"[{"jsonrpc":"2.0","id":1,"method":"later"},{"jsonrpc":"2.0","id":"b","method":"later"},"#
        + #"{"jsonrpc":"2.0","method":"later"},{"jsonrpc":"2.0","id":3,"method":"later"}]"#)
    #expect(sent.isEmpty)
    #expect(fixture.dispatcher.outstandingCount == 3)
    // Later, the owner settles them in the order they came.
    fixture.resolve(0, 10)
    fixture.resolve(1, 20)
    fixture.resolve(2, 0)  // the notification: nothing is sent for it
    #expect(fixture.take().isEmpty)
    fixture.resolve(3, 30)
    let array = "[\(Self.result("1", "10")),\(Self.result(#""b""#, "20")),\(Self.result("3", "30"))]"
    #expect(fixture.take() == Wire.framed([array], framing: framing))
    #expect(fixture.dispatcher.outstandingCount == 0)
  }

  @Test("a rejected request is answered with its error, alone or in a batch; settling it again writes nothing")
  func rejected() throws {
    let fixture = Fixture()
    let notRecorded = RPCError(RPCErrorCode(rawValue: -32051), "Not recorded", data: ["detail": "disk full"])
    let errorText = #"{"code":-32051,"message":"Not recorded","data":{"detail":"disk full"}}"#
    #expect(fixture.feed(#"{"jsonrpc":"2.0","id":1,"method":"later"}"#).isEmpty)
    fixture.reject(0, notRecorded)
    #expect(fixture.take() == Wire.framed([#"{"jsonrpc":"2.0","id":1,"error":\#(errorText)}"#], framing: .newline))
    fixture.resolve(0, 1)
    fixture.reject(0, .internalError("again"))
    #expect(fixture.take().isEmpty)
    #expect(fixture.dispatcher.outstandingCount == 0)

    _ = fixture.feed(#"[{"jsonrpc":"2.0","id":2,"method":"later"},{"jsonrpc":"2.0","id":3,"method":"later"}]"#)
    fixture.reject(1, notRecorded)
    fixture.resolve(2, 3)
    let array = #"[{"jsonrpc":"2.0","id":2,"error":\#(errorText)},\#(Self.result("3", "3"))]"#
    #expect(fixture.take() == Wire.framed([array], framing: .newline))
    // The id is free again.
    #expect(fixture.feed(#"{"jsonrpc":"2.0","id":1,"method":"later"}"#).isEmpty)
    #expect(fixture.dispatcher.outstandingCount == 1)
  }

  @Test("rejectOutstanding answers every request still waiting, batch members included, and nothing else")
  func rejectOutstanding() throws {
    let fixture = Fixture()
    _ = fixture.feed(
      #"{"jsonrpc":"2.0","id":1,"method":"later"}"#,
      #"{"jsonrpc":"2.0","id":"a","method":"later"}"#,
      #"[{"jsonrpc":"2.0","id":2,"method":"later"},{"jsonrpc":"2.0","id":3,"method":"now"},"#
        + #"{"jsonrpc":"2.0","id":4,"method":"later"}]"#,
      #"{"jsonrpc":"2.0","id":5,"method":"later"}"#)
    fixture.resolve(4, 50)
    #expect(fixture.written() == [["jsonrpc": "2.0", "id": 5, "result": 50]])
    #expect(fixture.dispatcher.outstandingCount == 4)

    fixture.dispatcher.rejectOutstanding("closing")
    let answers = fixture.written()
    try #require(answers.count == 3)
    let closing: JSONData = ["code": -32603, "message": "Internal error", "data": ["detail": "closing"]]
    let singles = answers.filter { $0.array == nil }
    #expect(singles.count == 2)
    for id: JSONData in [1, "a"] {
      #expect(singles.contains(["jsonrpc": "2.0", "id": id, "error": closing]))
    }
    let elements = try #require(answers.first { $0.array != nil }?.array)
    #expect(elements.count == 3)
    #expect(elements.contains(["jsonrpc": "2.0", "id": 2, "error": closing]))
    #expect(elements.contains(["jsonrpc": "2.0", "id": 3, "result": "now"]))
    #expect(elements.contains(["jsonrpc": "2.0", "id": 4, "error": closing]))
    #expect(fixture.waiting.allSatisfy { $0.isSettled })
    #expect(fixture.dispatcher.outstandingCount == 0)
    // Nothing is left to answer: a second call writes nothing.
    fixture.dispatcher.rejectOutstanding("closing")
    #expect(fixture.written().isEmpty)
  }

  @Test("rejectOutstanding also settles a deferred notification its batch waits for, so the array goes out")
  func rejectOutstandingWithSilentMember() throws {
    let fixture = Fixture()
    #expect(fixture.feed(#"[{"jsonrpc":"2.0","id":1,"method":"later"},{"jsonrpc":"2.0","method":"later"}]"#).isEmpty)
    fixture.dispatcher.rejectOutstanding("closing")
    let answers = fixture.written()
    try #require(answers.count == 1)
    #expect(answers[0].array?.count == 1)
    #expect(answers[0][0]?["id"] == 1)
    #expect(answers[0][0]?["error"]?["code"] == -32603)
    #expect(fixture.waiting.allSatisfy { $0.isSettled })
  }
}
