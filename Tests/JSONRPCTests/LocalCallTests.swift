import JSON
import Logging
import Testing

@testable import JSONRPC

/// Methods run in-process (``Dispatcher/callLocally(_:params:completion:)``): answers of methods answered at once and
/// of deferred ones reach the caller, never the output; errors, unknown methods and cancellation of the caller's own
/// request behave as for a client's request; waiting requests are settled before a method answered at once runs.
@Suite("Local calls")
struct LocalCallTests {
  final class Fixture {
    let output = OutputChannel(fd: -1)
    let dispatcher: Dispatcher
    var waiting: [PendingReply] = []
    var settledBeforeAnswering = 0

    init() {
      dispatcher = Dispatcher(output: output, logger: Logger(label: "test"))
      dispatcher.register("echo") { request, result throws(RPCError) in
        guard let value = request.params?["value"] else { throw RPCError.invalidParams(field: "value", "is required") }
        result.value(value)
      }
      dispatcher.registerDeferred("later", reservesID: false) { [unowned self] request, reply throws(RPCError) in
        if request.params?["fail"]?.bool == true { throw RPCError.invalidParams(field: "fail", "was asked to") }
        waiting.append(reply)
      }
      dispatcher.beforeAnsweringAtOnce = { [unowned self] in
        settledBeforeAnswering += 1
        for reply in waiting { dispatcher.resolve(reply) { $0.string("settled") } }
        waiting.removeAll()
      }
    }

    /// Runs `method` locally; returns what it answered (`nil` while it waits).
    func call(_ method: String, _ params: JSONData?) -> LocalCallResult? {
      var answer: LocalCallResult?
      dispatcher.callLocally(method, params: params) { answer = $0 }
      return answer
    }
  }

  static func text(_ result: LocalCallResult?) -> String? {
    guard case .success(let bytes)? = result else { return nil }
    return String(decoding: bytes, as: UTF8.self)
  }

  @Test func aMethodAnsweredAtOnceAnswersTheCallerOnly() {
    let fixture = Fixture()
    #expect(Self.text(fixture.call("echo", ["value": ["a": 1]])) == #"{"a":1}"#)
    #expect(fixture.output.writer.count == 0)
  }

  @Test func errorsAndUnknownMethodsAreHandedBack() {
    let fixture = Fixture()
    guard case .failure(let error)? = fixture.call("echo", [:]) else {
      Issue.record("no error")
      return
    }
    #expect(error.code == .invalidParams)
    guard case .failure(let unknown)? = fixture.call("nope", nil) else {
      Issue.record("no error")
      return
    }
    #expect(unknown.code == .methodNotFound)
    guard case .failure(let thrown)? = fixture.call("later", ["fail": true]) else {
      Issue.record("no error")
      return
    }
    #expect(thrown.code == .invalidParams)
    #expect(fixture.output.writer.count == 0)
  }

  @Test func aDeferredMethodAnswersWhenSettled() {
    let fixture = Fixture()
    var answer: LocalCallResult?
    fixture.dispatcher.callLocally("later", params: nil as JSONData?) { answer = $0 }
    #expect(answer == nil)
    #expect(fixture.waiting.count == 1)
    #expect(fixture.dispatcher.outstandingCount == 0)
    fixture.dispatcher.resolve(fixture.waiting[0]) { $0.int(42) }
    #expect(Self.text(answer) == "42")
    // Settling again is ignored, and nothing was written.
    fixture.dispatcher.reject(fixture.waiting[0], .internalError("late"))
    #expect(Self.text(answer) == "42")
    #expect(fixture.output.writer.count == 0)
  }

  @Test func aDeferredMethodRejected() {
    let fixture = Fixture()
    var answer: LocalCallResult?
    fixture.dispatcher.callLocally("later", params: nil as JSONData?) { answer = $0 }
    fixture.dispatcher.reject(fixture.waiting[0], .internalError("gone"))
    guard case .failure(let error)? = answer else {
      Issue.record("not rejected")
      return
    }
    #expect(error.code == .internalError)
  }

  @Test func waitingRequestsAreSettledBeforeAMethodAnsweredAtOnce() {
    let fixture = Fixture()
    var first: LocalCallResult?
    fixture.dispatcher.callLocally("later", params: nil as JSONData?) { first = $0 }
    #expect(first == nil)
    _ = fixture.call("echo", ["value": 1])
    #expect(Self.text(first) == #""settled""#)
    #expect(fixture.settledBeforeAnswering == 1)
  }

  @Test func aClientRequestAnsweredThroughALocalCall() {
    // A deferred method of a face that answers its client with what a local call answered, once settled.
    let fixture = Fixture()
    fixture.dispatcher.registerDeferred("outer") { [unowned fixture] _, reply throws(RPCError) in
      fixture.dispatcher.callLocally("later", params: nil as JSONData?) { result in
        guard case .success(let bytes) = result else { return }
        fixture.dispatcher.resolve(reply) { writer in bytes.withUnsafeBytes { writer.rawValue($0) } }
      }
    }
    var message = #"{"jsonrpc":"2.0","id":7,"method":"outer"}"#
    message.withUTF8 { _ = fixture.dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
    #expect(fixture.output.writer.count == 0)
    #expect(fixture.dispatcher.outstandingCount == 1)
    fixture.dispatcher.resolve(fixture.waiting[0]) { $0.bool(true) }
    let written = String(decoding: fixture.output.writer.bytes, as: UTF8.self)
    #expect(written == #"{"jsonrpc":"2.0","id":7,"result":true}"# + "\n")
    #expect(fixture.dispatcher.outstandingCount == 0)
  }

  @Test func notificationsRunLocally() throws {
    let fixture = Fixture()
    var seen: JSONData?
    fixture.dispatcher.registerNotification("tell") { params in seen = params.map(JSONData.init) }
    let document = try JSONDocument.parse(#"{"x":1}"#)
    document.withRoot { root in #expect(fixture.dispatcher.notifyLocally("tell", params: root)) }
    #expect(seen == ["x": 1])
    #expect(!fixture.dispatcher.notifyLocally("unknown", params: nil))
  }
}
