import Foundation
import JSON
import TestSupport
import Testing

/// The examples of section 7 of the JSON-RPC 2.0 specification, replayed against usagectx in both framings.
///
/// usagectx has none of the example methods (`subtract`, `sum`, `update`, `get_data`, `notify_*`), so calls to them
/// are answered -32601 with their id; everything else is exactly as the specification shows. Codes and ids are
/// compared exactly, messages are not.
@Suite("JSON-RPC 2.0 specification examples")
struct SpecExampleTests {
  /// One example: the text sent (with the specification's line breaks) and the answer expected.
  struct Example: Sendable, CustomTestStringConvertible {
    enum Answer: Sendable {
      /// Nothing at all is written.
      case nothing
      /// One error object (not an array).
      case single(code: Int64, id: JSONData)
      /// One array of error objects, compared as a multiset.
      case batch([ExpectedError])
    }

    let name: String
    let text: String
    let answer: Answer
    var testDescription: String { name }
  }

  static let examples: [Example] = [
    Example(
      name: "S1 positional params",
      text: #"{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}"#,
      answer: .single(code: -32601, id: 1)),
    Example(
      name: "S2 positional params",
      text: #"{"jsonrpc": "2.0", "method": "subtract", "params": [23, 42], "id": 2}"#,
      answer: .single(code: -32601, id: 2)),
    Example(
      name: "S3 named params",
      text: #"{"jsonrpc": "2.0", "method": "subtract", "params": {"subtrahend": 23, "minuend": 42}, "id": 3}"#,
      answer: .single(code: -32601, id: 3)),
    Example(
      name: "S4 named params",
      text: #"{"jsonrpc": "2.0", "method": "subtract", "params": {"minuend": 42, "subtrahend": 23}, "id": 4}"#,
      answer: .single(code: -32601, id: 4)),
    Example(
      name: "S5 notification",
      text: #"{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}"#,
      answer: .nothing),
    Example(
      name: "S6 notification",
      text: #"{"jsonrpc": "2.0", "method": "foobar"}"#,
      answer: .nothing),
    Example(
      name: "S7 non-existent method",
      text: #"{"jsonrpc": "2.0", "method": "foobar", "id": "1"}"#,
      answer: .single(code: -32601, id: "1")),
    Example(
      name: "S8 invalid JSON",
      text: #"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#,
      answer: .single(code: -32700, id: nil)),
    Example(
      name: "S9 invalid Request object",
      text: #"{"jsonrpc": "2.0", "method": 1, "params": "bar"}"#,
      answer: .single(code: -32600, id: nil)),
    Example(
      name: "S10 batch, invalid JSON",
      text: """
        [
          {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
          {"jsonrpc": "2.0", "method"
        ]
        """,
      answer: .single(code: -32700, id: nil)),
    Example(
      name: "S11 empty array",
      text: "[]",
      answer: .single(code: -32600, id: nil)),
    Example(
      name: "S12 invalid batch of one",
      text: "[1]",
      answer: .batch([ExpectedError(-32600, nil)])),
    Example(
      name: "S13 invalid batch",
      text: "[1,2,3]",
      answer: .batch(Array(repeating: ExpectedError(-32600, nil), count: 3))),
    Example(
      name: "S14 mixed batch",
      text: """
        [
                {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},
                {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
                {"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},
                {"foo": "boo"},
                {"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},
                {"jsonrpc": "2.0", "method": "get_data", "id": "9"}
            ]
        """,
      answer: .batch([
        ExpectedError(-32601, "1"), ExpectedError(-32601, "2"), ExpectedError(-32600, nil),
        ExpectedError(-32601, "5"), ExpectedError(-32601, "9"),
      ])),
    Example(
      name: "S15 batch of notifications",
      text: """
        [
                {"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},
                {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}
            ]
        """,
      answer: .nothing),
  ]

  @Test("each example gets the specified answer", arguments: examples, SidecarProcess.Framing.allCases)
  func example(_ example: Example, framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try Self.check(example, on: sidecar)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("all examples in one session, in order", arguments: SidecarProcess.Framing.allCases)
  func allInOneSession(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    for example in Self.examples {
      try Self.check(example, on: sidecar)
    }
    sidecar.closeInput()
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 0)
  }

  /// Sends the example, checks its answer, then proves with a sentinel that nothing else was written.
  static func check(_ example: Example, on sidecar: SidecarProcess) throws {
    try sidecar.sendSpecText(example.text)
    switch example.answer {
    case .nothing:
      break
    case .single(let code, let id):
      let answer = try sidecar.nextMessage()
      #expect(answer.array == nil, "\(example.name): expected one object, got \(answer.jsonText)")
      expectError(answer, code: code, id: id)
    case .batch(let expected):
      let answer = try sidecar.nextMessage()
      let elements = try #require(answer.array, "\(example.name): expected an array, got \(answer.jsonText)")
      for element in elements { expectError(element, code: nil, id: nil, checkID: false) }
      #expect(multiset(elements.map(ExpectedError.init(answer:))) == multiset(expected), "\(example.name)")
    }
    try sidecar.expectNothingMore()
  }
}

/// Envelope rules beyond the specification's examples: ids, versions, params, responses sent by the client, batch size.
@Suite("Request envelope")
struct EnvelopeTests {
  @Test(
    "malformed envelopes are refused with -32600 and the id echoed when it is readable",
    arguments: [
      (#"{"jsonrpc":"2.0","id":1}"#, 1),
      (#"{"id":2,"method":"ping"}"#, 2),
      (#"{"jsonrpc":"2.1","id":3,"method":"ping"}"#, 3),
      (#"{"jsonrpc":2.0,"id":4,"method":"ping"}"#, 4),
      (#"{"jsonrpc":null,"id":"five","method":"ping"}"#, "five"),
      (#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, nil),
      (#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, nil),
      (#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, nil),
      ("1", nil),
      ("null", nil),
      (#""ping""#, nil),
      ("true", nil),
      (#"{"jsonrpc":"2.0","id":6,"method":"ping","params":"x"}"#, 6),
      (#"{"jsonrpc":"2.0","id":7,"method":"ping","params":7}"#, 7),
      (#"{"jsonrpc":"2.0","id":8,"method":"ping","params":true}"#, 8),
      (#"{"jsonrpc":"2.0","id":9,"method":["ping"]}"#, 9),
      (#"{"jsonrpc":"2.0","id":10,"method":null}"#, 10),
      ("{}", nil),
    ] as [(String, JSONData)],
    SidecarProcess.Framing.allCases
  )
  func invalidEnvelope(envelope: (text: String, id: JSONData), framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.send(envelope.text)
    expectError(try sidecar.nextMessage(), code: -32600, id: envelope.id)
    try sidecar.expectNothingMore()
  }

  @Test(
    "params null is taken as no params for every method (Emacs's jsonrpc.el sends it)",
    arguments: SidecarProcess.Framing.allCases)
  func nullParams(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.send(#"{"jsonrpc":"2.0","id":1,"method":"usage/get","params":null}"#)
    let snapshot = try sidecar.nextMessage()
    #expect(snapshot["result"]?["metrics"]?["documents"]?["used"] == 0, "\(snapshot)")
    try sidecar.send(#"{"jsonrpc":"2.0","id":2,"method":"usage/increment","params":null}"#)
    expectError(try sidecar.nextMessage(), code: -32602, id: 2)
    try sidecar.send(#"{"jsonrpc":"2.0","id":3,"method":"shutdown","params":null}"#)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 3, "result": nil])
    try sidecar.send(#"{"jsonrpc":"2.0","method":"exit","params":null}"#)
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("a request with id null is a request: answered once, with id null", arguments: SidecarProcess.Framing.allCases)
  func nullID(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.send(#"{"jsonrpc":"2.0","method":"ping","id":null}"#)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": nil, "result": [:]])
    try sidecar.expectNothingMore()
  }

  @Test("responses sent by the client are ignored", arguments: SidecarProcess.Framing.allCases)
  func clientResponsesIgnored(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.send(#"{"jsonrpc":"2.0","result":1,"id":99}"#)
    try sidecar.send(#"{"jsonrpc":"2.0","error":{"code":-1,"message":"no"},"id":98}"#)
    try sidecar.send(#"[{"jsonrpc":"2.0","result":null,"id":97}]"#)
    try sidecar.expectNothingMore()
    #expect(sidecar.process.isRunning)
    #expect(try sidecar.request("ping", id: 5) == ["jsonrpc": "2.0", "id": 5, "result": [:]])
  }

  static let ids: [JSONData] = [
    "", "abc", "1", "with \"quotes\" and \\ backslash", "tab\tnew\nline\r", "é😀€", "nul \u{0} inside",
    "\u{1}\u{1F}\u{7F}",
    #"{"not":"json"}"#, .string(String(repeating: "long ", count: 200)), 0, -1, 9_007_199_254_740_993,
    .int(Int64.max), .int(Int64.min), 1.5, -2.25, 1e-7,
  ]

  @Test("ids are echoed exactly", arguments: SidecarProcess.Framing.allCases)
  func idsEchoed(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    for id in Self.ids {
      let answer = try sidecar.request("ping", id: id)
      #expect(answer == ["jsonrpc": "2.0", "id": id, "result": [:]], "id \(id.jsonText)")
      let failed = try sidecar.request("no/such/method", id: id)
      expectError(failed, code: -32601, id: id)
    }
  }

  @Test(
    "a batch up to --max-batch is served; one more is refused as one error", arguments: SidecarProcess.Framing.allCases)
  func batchLimit(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--max-batch", "3"])
    func batch(_ count: Int) -> String {
      "[" + (0..<count).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"ping"}"# }.joined(separator: ",") + "]"
    }
    try sidecar.send(batch(3))
    let answers = try #require(try sidecar.nextMessage().array)
    #expect(answers.count == 3)
    #expect(Set(answers.compactMap { $0["id"]?.int }) == [0, 1, 2])
    #expect(answers.allSatisfy { $0["result"] == [:] })
    try sidecar.send(batch(4))
    let refused = try sidecar.nextMessage()
    #expect(refused.array == nil)
    expectError(refused, code: -32600, id: nil, reason: "batchTooLarge")
    #expect(refused["error"]?["data"]?["limit"] == 3)
    try sidecar.expectNothingMore()
  }

  @Test("a batch mixing results, errors, notifications and client responses answers only the requests")
  func mixedBatch() throws {
    let sidecar = try SidecarProcess()
    try sidecar.send(
      """
      [{"jsonrpc":"2.0","id":"a","method":"ping"},
       {"jsonrpc":"2.0","method":"ping"},
       {"jsonrpc":"2.0","id":"b","method":"usage/get","params":{"metrics":["documents"]}},
       {"jsonrpc":"2.0","result":0,"id":"c"},
       {"jsonrpc":"2.0","id":"d","method":"usage/increment","params":{"metric":"nope"}},
       {"jsonrpc":"2.0","id":"e","method":"nope"}]
      """.replacingOccurrences(of: "\n", with: ""))
    let answers = try #require(try sidecar.nextMessage().array)
    #expect(answers.map { $0["id"] } == ["a", "b", "d", "e"])
    #expect(answers[0]["result"] == [:])
    #expect(answers[1]["result"]?["metrics"]?["documents"]?["used"] == 0)
    expectError(answers[2], code: -32602, id: "d", field: "metric")
    expectError(answers[3], code: -32601, id: "e")
    // A failing first element leaves no stray comma or half-written result behind.
    try sidecar.send(
      #"[{"jsonrpc":"2.0","id":"x","method":"usage/increment","params":{"metric":"documents","amount":-1}},"#
        + #"{"jsonrpc":"2.0","id":"y","method":"ping"}]"#)
    let second = try #require(try sidecar.nextMessage().array)
    #expect(second.count == 2)
    expectError(second[0], code: -32602, id: "x", field: "amount")
    #expect(second.count == 2 && second[1] == ["jsonrpc": "2.0", "id": "y", "result": [:]])
    try sidecar.expectNothingMore()
  }
}

// MARK: - Shared by the end-to-end suites

/// An error answer reduced to what is compared exactly: its code and id.
struct ExpectedError: Hashable, Sendable, CustomStringConvertible {
  let code: Int64?
  let id: String

  init(_ code: Int64, _ id: JSONData) {
    self.code = code
    self.id = id.jsonText
  }

  init(answer: JSONData) {
    code = answer["error"]?["code"]?.int
    id = answer["id"]?.jsonText ?? "absent"
  }

  var description: String { "\(code.map(String.init) ?? "?") id \(id)" }
}

/// Counts of each element, for comparing collections regardless of order.
func multiset<T: Hashable>(_ items: [T]) -> [T: Int] {
  items.reduce(into: [:]) { $0[$1, default: 0] += 1 }
}

/// Checks that `answer` is a well-formed JSON-RPC error response with the given code and id (and, when given, the
/// `data.reason` and `data.field`). A `nil` code accepts any code.
func expectError(
  _ answer: JSONData, code: Int64?, id: JSONData?, reason: String? = nil, field: String? = nil, checkID: Bool = true,
  sourceLocation: SourceLocation = #_sourceLocation
) {
  let text = answer.jsonText
  #expect(answer["jsonrpc"] == "2.0", "\(text)", sourceLocation: sourceLocation)
  #expect(answer["result"] == nil, "\(text)", sourceLocation: sourceLocation)
  #expect(answer.objectMembers?.count == 3, "only jsonrpc, id and error: \(text)", sourceLocation: sourceLocation)
  if checkID {
    #expect(answer["id"] == (id ?? .null), "\(text)", sourceLocation: sourceLocation)
  } else {
    #expect(answer["id"] != nil, "\(text)", sourceLocation: sourceLocation)
  }
  guard let error = answer["error"] else {
    Issue.record("not an error: \(text)", sourceLocation: sourceLocation)
    return
  }
  if let code { #expect(error["code"] == .int(code), "\(text)", sourceLocation: sourceLocation) }
  #expect(error["code"]?.int != nil && error["message"]?.string != nil, "\(text)", sourceLocation: sourceLocation)
  if let reason { #expect(error["data"]?["reason"] == .string(reason), "\(text)", sourceLocation: sourceLocation) }
  if let field { #expect(error["data"]?["field"] == .string(field), "\(text)", sourceLocation: sourceLocation) }
}

extension SidecarProcess {
  /// Sends a specification example: as written in `Content-Length` framing, folded onto one line in newline framing.
  func sendSpecText(_ text: String) throws {
    switch framing {
    case .newline: try send(text.replacingOccurrences(of: "\n", with: " "))
    case .contentLength: try send(text)
    }
  }

  /// Sends `ping` under a fresh id and requires the very next message to be its answer: proves that nothing was
  /// written for what was sent before it, and that the connection still works.
  func expectNothingMore(sourceLocation: SourceLocation = #_sourceLocation) throws {
    let id = JSONData.string("sentinel-\(UUID().uuidString)")
    try send(JSONData.object([("jsonrpc", "2.0"), ("id", id), ("method", "ping")]))
    let next = try nextMessage()
    #expect(next == ["jsonrpc": "2.0", "id": id, "result": [:]], "\(next.jsonText)", sourceLocation: sourceLocation)
  }

  /// The `usage/get` snapshot.
  func snapshot() throws -> JSONData {
    let answer = try request("usage/get", id: "snapshot")
    guard let result = answer["result"] else { throw Failure.badFrame("usage/get failed: \(answer.jsonText)") }
    return result
  }
}
