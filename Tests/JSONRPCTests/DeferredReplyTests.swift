import JSON
import Logging
import Testing

@testable import JSONRPC

/// Requests answered later: the answer goes out when the work is done, ids stay reserved while a request waits,
/// `$/cancelRequest` answers a waiting request, and a batch waits for all its members.
@Suite("Deferred replies")
struct DeferredReplyTests {
  /// A dispatcher with one deferred method, `later`, whose replies the test settles by hand.
  final class Fixture {
    let output = OutputChannel(fd: -1)
    let dispatcher: Dispatcher
    var waiting: [PendingReply] = []
    var cancelled = 0

    init() {
      dispatcher = Dispatcher(output: output, logger: Logger(label: "test"))
      dispatcher.registerDeferred("later") { [unowned self] request, reply throws(RPCError) in
        if request.params?["fail"]?.bool == true { throw RPCError.invalidParams(field: "fail", "was asked to") }
        reply.onCancel = { [unowned self] in cancelled += 1 }
        waiting.append(reply)
      }
      dispatcher.register("now") { _, result throws(RPCError) in result.string("now") }
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
        + #"{"jsonrpc":"2.0","id":3,"method":"later"},{"jsonrpc":"2.0","method":"later"},{"jsonrpc":"2.0","id":4,"method":"nope"}]"#)
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
}
