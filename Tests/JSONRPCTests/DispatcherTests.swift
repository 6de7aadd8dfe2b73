import JSON
import Logging
import Testing

@testable import JSONRPC

/// The dispatcher against the JSON-RPC 2.0 specification's own examples (section 7), with the specification's
/// fixture methods registered, plus the rules around them: notifications, batches, ids, lifecycle.
@Suite("Dispatcher")
struct DispatcherTests {
  /// A dispatcher with the specification's example methods, writing into an unflushed output channel.
  final class Fixture {
    let output = OutputChannel(fd: -1)
    let dispatcher: Dispatcher
    var notified: [String] = []

    init(limits: Dispatcher.Limits = Dispatcher.Limits()) {
      dispatcher = Dispatcher(output: output, limits: limits, logger: Logger(label: "test"))
      dispatcher.register("subtract") { request, result throws(RPCError) in
        let params = request.params
        if let first = params?[0]?.int64, let second = params?[1]?.int64 {
          result.int(first - second)
        } else if let minuend = params?["minuend"]?.int64, let subtrahend = params?["subtrahend"]?.int64 {
          result.int(minuend - subtrahend)
        } else {
          throw RPCError.invalidParams(field: "params", "needs two numbers")
        }
      }
      dispatcher.register("sum") { request, result throws(RPCError) in
        result.int(request.params?.elements.compactMap(\.int64).reduce(0, +) ?? 0)
      }
      dispatcher.register("get_data") { _, result throws(RPCError) in
        result.beginArray()
        result.string("hello")
        result.int(5)
        result.endArray()
      }
      for name in ["update", "notify_hello", "notify_sum"] {
        dispatcher.registerNotification(name) { [unowned self] _ in notified.append(name) }
      }
    }

    /// Feeds one message and returns what was written, as JSON values, one per framed (newline) message.
    func send(_ text: String) -> [JSONData] {
      output.writer.reset()
      var text = text
      text.withUTF8 { _ = dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
      let written = String(decoding: output.writer.bytes, as: UTF8.self)
      return written.split(separator: "\n").map { line in
        (try? JSONData(parsing: String(line))) ?? .string("unparseable: \(line)")
      }
    }
  }

  static let parseError: JSONData = ["jsonrpc": "2.0", "error": ["code": -32700, "message": "Parse error"], "id": nil]
  static let invalidRequest: JSONData = [
    "jsonrpc": "2.0", "error": ["code": -32600, "message": "Invalid Request"], "id": nil,
  ]

  /// Drops `error.data`, which the specification's examples do not show.
  static func withoutData(_ value: JSONData) -> JSONData {
    switch value {
    case .array(let elements): return .array(elements.map(withoutData))
    case .object(let members):
      return .object(
        members.map { key, member in
          if key == "error", case .object(let error) = member { return (key, .object(error.filter { $0.0 != "data" })) }
          return (key, member)
        })
    default: return value
    }
  }

  static func sameMultiset(_ lhs: JSONData, _ rhs: JSONData) -> Bool {
    guard let left = lhs.array, var right = rhs.array, left.count == right.count else { return false }
    for element in left {
      guard let index = right.firstIndex(of: element) else { return false }
      right.remove(at: index)
    }
    return true
  }

  @Test("S1-S4: calls with positional and named parameters")
  func calls() {
    let fixture = Fixture()
    #expect(
      fixture.send(#"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#)
        == [["jsonrpc": "2.0", "result": 19, "id": 1]])
    #expect(
      fixture.send(#"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#)
        == [["jsonrpc": "2.0", "result": -19, "id": 2]])
    #expect(
      fixture.send(#"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#)
        == [["jsonrpc": "2.0", "result": 19, "id": 3]])
    #expect(
      fixture.send(#"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#)
        == [["jsonrpc": "2.0", "result": 19, "id": 4]])
  }

  @Test("S5-S6: notifications are never answered, even for unknown methods")
  func notifications() {
    let fixture = Fixture()
    #expect(fixture.send(#"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#).isEmpty)
    #expect(fixture.notified == ["update"])
    #expect(fixture.send(#"{"jsonrpc": "2.0", "method": "foobar"}"#).isEmpty)
  }

  @Test("S7-S9: unknown method, invalid JSON, invalid Request")
  func errors() {
    let fixture = Fixture()
    let unknown = fixture.send(#"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#).map(Self.withoutData)
    #expect(unknown == [["jsonrpc": "2.0", "error": ["code": -32601, "message": "Method not found"], "id": "1"]])
    let invalidJSON = fixture.send(#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#)
    #expect(invalidJSON.map(Self.withoutData) == [Self.parseError])
    let invalid = fixture.send(#"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#)
    #expect(invalid.map(Self.withoutData) == [Self.invalidRequest])
  }

  @Test("S10-S13: invalid batches")
  func invalidBatches() {
    let fixture = Fixture()
    let brokenBatch =
      #"[ {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"}, {"jsonrpc": "2.0", "method" ]"#
    #expect(fixture.send(brokenBatch).map(Self.withoutData) == [Self.parseError])
    #expect(fixture.send("[]").map(Self.withoutData) == [Self.invalidRequest])
    #expect(fixture.send("[1]").map(Self.withoutData) == [.array([Self.invalidRequest])])
    #expect(
      fixture.send("[1,2,3]").map(Self.withoutData) == [
        .array([Self.invalidRequest, Self.invalidRequest, Self.invalidRequest])
      ])
  }

  @Test("S14: a mixed batch answers every call, in any order, and no notification")
  func mixedBatch() throws {
    let fixture = Fixture()
    let batch = """
      [{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
       {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
       {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
       {"foo": "boo"},
       {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
       {"jsonrpc": "2.0", "method": "get_data", "id": "9"}]
      """
    let answers = fixture.send(batch).map(Self.withoutData)
    try #require(answers.count == 1)
    let expected: JSONData = [
      ["jsonrpc": "2.0", "result": 7, "id": "1"],
      ["jsonrpc": "2.0", "result": 19, "id": "2"],
      Self.invalidRequest,
      ["jsonrpc": "2.0", "error": ["code": -32601, "message": "Method not found"], "id": "5"],
      ["jsonrpc": "2.0", "result": ["hello", 5], "id": "9"],
    ]
    #expect(Self.sameMultiset(answers[0], expected))
    #expect(fixture.notified == ["notify_hello"])
  }

  @Test("S15: a batch of notifications gets no answer at all")
  func notificationBatch() {
    let fixture = Fixture()
    let batch =
      #"[{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]}, {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}]"#
    #expect(fixture.send(batch).isEmpty)
    #expect(fixture.notified == ["notify_sum", "notify_hello"])
  }

  @Test("ids: strings, numbers and null are echoed; other types are refused with id null")
  func ids() {
    let fixture = Fixture()
    #expect(
      fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":[1],"id":"abc"}"#) == [
        ["jsonrpc": "2.0", "result": 1, "id": "abc"]
      ])
    #expect(
      fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":[1],"id":null}"#) == [
        ["jsonrpc": "2.0", "result": 1, "id": nil]
      ])
    #expect(
      fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":[1],"id":2.5}"#) == [
        ["jsonrpc": "2.0", "result": 1, "id": 2.5]
      ])
    let badID = fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":[1],"id":[1]}"#)
    #expect(badID.first?["id"] == .null && badID.first?["error"]?["code"] == -32600)
    let idOnly = fixture.send(#"{"jsonrpc":"2.0","id":1}"#)
    #expect(idOnly.first?["id"] == 1 && idOnly.first?["error"]?["code"] == -32600)
    let badVersion = fixture.send(#"{"jsonrpc":"2.1","method":"sum","id":3}"#)
    #expect(badVersion.first?["id"] == 3 && badVersion.first?["error"]?["code"] == -32600)
  }

  @Test("params null is taken as no params, as most servers do; a string or a number is refused")
  func nullParams() {
    let fixture = Fixture()
    #expect(
      fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":null,"id":1}"#) == [
        ["jsonrpc": "2.0", "result": 0, "id": 1]
      ])
    let string = fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":"1","id":2}"#)
    #expect(string.first?["error"]?["code"] == -32600 && string.first?["id"] == 2)
    let number = fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":1,"id":3}"#)
    #expect(number.first?["error"]?["code"] == -32600)
  }

  @Test("a handler error replaces its half-written result, also inside a batch")
  func handlerErrors() {
    let fixture = Fixture()
    let answers = fixture.send(
      #"[{"jsonrpc":"2.0","method":"subtract","params":["x"],"id":1},{"jsonrpc":"2.0","method":"sum","params":[2],"id":2}]"#
    )
    #expect(answers.count == 1)
    #expect(answers.first?[0]?["error"]?["code"] == -32602)
    #expect(answers.first?[1] == ["jsonrpc": "2.0", "result": 2, "id": 2])
  }

  @Test("batches above the limit are refused as a whole")
  func batchLimit() {
    let fixture = Fixture(limits: Dispatcher.Limits(maxDepth: 100, maxBatch: 2))
    let answers = fixture.send(
      #"[{"jsonrpc":"2.0","method":"sum","id":1},{"jsonrpc":"2.0","method":"sum","id":2},{"jsonrpc":"2.0","method":"sum","id":3}]"#
    )
    #expect(answers.count == 1)
    #expect(answers.first?["error"]?["data"]?["reason"] == "batchTooLarge")
  }

  @Test("notifications raised while answering follow the answer")
  func heldNotifications() {
    let fixture = Fixture()
    fixture.dispatcher.register("announce") { [output = fixture.output] _, result throws(RPCError) in
      output.notify("event") { $0.int(1) }
      result.bool(true)
    }
    let messages = fixture.send(#"{"jsonrpc":"2.0","method":"announce","id":1}"#)
    #expect(
      messages == [["jsonrpc": "2.0", "id": 1, "result": true], ["jsonrpc": "2.0", "method": "event", "params": 1]])
  }

  @Test("shutdown refuses later requests; exit's code says whether shutdown came first")
  func lifecycle() {
    let fixture = Fixture()
    #expect(
      fixture.send(#"{"jsonrpc":"2.0","method":"shutdown","id":1}"#) == [["jsonrpc": "2.0", "id": 1, "result": nil]])
    let refused = fixture.send(#"{"jsonrpc":"2.0","method":"sum","params":[1],"id":2}"#)
    #expect(refused.first?["error"]?["data"]?["reason"] == "shutDown")
    #expect(fixture.dispatcher.exitCode == nil)
    #expect(fixture.send(#"{"jsonrpc":"2.0","method":"exit"}"#).isEmpty)
    #expect(fixture.dispatcher.exitCode == 0)

    let early = Fixture()
    _ = early.send(#"{"jsonrpc":"2.0","method":"exit"}"#)
    #expect(early.dispatcher.exitCode == 1)
  }

  @Test("Content-Length framing puts an exact byte count in front of each message")
  func contentLengthOutput() {
    let fixture = Fixture()
    fixture.output.framing = .contentLength
    fixture.output.writer.reset()
    var text = #"{"jsonrpc":"2.0","method":"get_data","id":"é"}"#
    text.withUTF8 { _ = fixture.dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
    let bytes = fixture.output.writer.bytes
    let body = #"{"jsonrpc":"2.0","id":"é","result":["hello",5]}"#
    #expect(bytes == Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
  }
}
