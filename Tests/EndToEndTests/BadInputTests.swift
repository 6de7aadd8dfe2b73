import TestSupport
import Foundation
import JSON
import Testing

/// Hostile and broken input: every fault is answered (or ignored) as specified, the process survives, and the valid
/// request that follows is still answered correctly.
@Suite("Bad input")
struct BadInputTests {
  static let ping = Array(#"{"jsonrpc":"2.0","id":"after","method":"ping"}"#.utf8)
  static let pong: JSONData = ["jsonrpc": "2.0", "id": "after", "result": [:]]

  /// A request whose params are `depth` arrays nested inside each other (the whole message is one level deeper).
  static func deepRequest(_ depth: Int, id: Int) -> String {
    #"{"jsonrpc":"2.0","id":\#(id),"method":"ping","params":"#
      + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
  }

  /// Sends a bad body and a valid ping in one write, expects `check` to accept the first answer, then the ping's.
  static func sendBadThenPing(
    _ bad: [UInt8], on sidecar: SidecarProcess, sourceLocation: SourceLocation = #_sourceLocation,
    _ check: (JSONData) -> Void
  ) throws {
    try sidecar.sendRaw(SidecarProcess.frame(bad, sidecar.framing) + SidecarProcess.frame(ping, sidecar.framing))
    check(try sidecar.nextMessage())
    #expect(try sidecar.nextMessage() == pong, sourceLocation: sourceLocation)
  }

  // MARK: - JSON

  @Test("malformed JSON is a parse error with id null", arguments: SidecarProcess.Framing.allCases)
  func malformedJSON(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let bodies = [
      #"{"jsonrpc":"2.0","#, #"{"jsonrpc":"2.0","id":1,"method":"ping""#, "{]", "nul", #"{"a":1}}"#, "{'a':1}",
      "[1,]", "01", #"{"jsonrpc":"2.0","id":1,"method":"ping",}"#, "\u{1}", #"{"id":1 "method":"ping"}"#,
      #"{"jsonrpc":"2.0","id":1,"method":"ping"} {"jsonrpc":"2.0","id":2,"method":"ping"}"#,
    ]
    for body in bodies {
      try Self.sendBadThenPing(Array(body.utf8), on: sidecar) { answer in
        expectError(answer, code: -32700, id: nil, reason: "invalidJSON")
      }
    }
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test(
    "invalid UTF-8 is a parse error with id null",
    arguments: [
      [0xFF, 0xFE],  // never valid in UTF-8
      [0xE2, 0x82],  // a multibyte sequence cut short
      [0xC0, 0xAF],  // overlong encoding
      [0xED, 0xA0, 0x80],  // a surrogate encoded as UTF-8
      [0xF8, 0x88, 0x80, 0x80, 0x80],  // a five-byte form
    ] as [[UInt8]],
    SidecarProcess.Framing.allCases
  )
  func invalidUTF8(sequence: [UInt8], framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let inString = Array(#"{"jsonrpc":"2.0","id":"x"#.utf8) + sequence + Array(#"","method":"ping"}"#.utf8)
    let inKey = Array(#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{""#.utf8) + sequence + Array(#"":1}}"#.utf8)
    let bare = Array(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.utf8).dropLast() + sequence + Array("}".utf8)
    for bad in [inString, inKey, Array(bare)] {
      try Self.sendBadThenPing(bad, on: sidecar) { answer in
        expectError(answer, code: -32700, id: nil)
      }
    }
  }

  @Test(
    "numbers JSON cannot hold (non-finite, overflowing) are parse errors",
    arguments: ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "99999999999999999999"],
    SidecarProcess.Framing.allCases
  )
  func nonFiniteNumbers(number: String, framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let bodies = [
      #"{"jsonrpc":"2.0","id":1,"method":"ping","params":[\#(number)]}"#,
      #"{"jsonrpc":"2.0","id":2,"method":"usage/increment","params":{"metric":"documents","amount":\#(number)}}"#,
    ]
    for body in bodies {
      try Self.sendBadThenPing(Array(body.utf8), on: sidecar) { answer in
        expectError(answer, code: -32700, id: nil)
      }
    }
    #expect(try sidecar.snapshot()["metrics"]?["documents"]?["used"] == 0)
  }

  // MARK: - Nesting

  @Test(
    "moderate nesting is served; the limit is exact; deeper nesting is refused",
    arguments: SidecarProcess.Framing.allCases)
  func nesting(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    // 50 levels of params: an ordinary answer, not a framing or parse error.
    try sidecar.send(Self.deepRequest(50, id: 50))
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 50, "result": [:]])
    // 99 levels of params make the message exactly 100 deep, the default limit.
    try sidecar.send(Self.deepRequest(99, id: 99))
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 99, "result": [:]])
    for depth in [100, 101, 1000, 100_000] {
      let started = Date()
      try Self.sendBadThenPing(Array(Self.deepRequest(depth, id: depth).utf8), on: sidecar) { answer in
        // A message the parser could read whole has its id echoed; past the parser's own limit (2048 levels)
        // the id cannot be read.
        let id: JSONData? = depth < 2048 ? .int(Int64(depth)) : nil
        expectError(answer, code: -32600, id: id, reason: "nestingTooDeep")
        #expect(answer["error"]?["data"]?["limit"] == 100)
      }
      #expect(Date().timeIntervalSince(started) < 5, "depth \(depth)")
    }
    // Deep objects and a bare deep array, with nothing around them.
    let objects = String(repeating: #"{"a":"#, count: 100_000) + "1" + String(repeating: "}", count: 100_000)
    let arrays = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    for text in [objects, arrays] {
      try Self.sendBadThenPing(Array(text.utf8), on: sidecar) { answer in
        expectError(answer, code: -32600, id: nil, reason: "nestingTooDeep")
      }
    }
    #expect(sidecar.process.isRunning)
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("--max-depth sets the limit exactly", arguments: SidecarProcess.Framing.allCases)
  func customDepth(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--max-depth", "5"])
    try sidecar.send(Self.deepRequest(4, id: 4))
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 4, "result": [:]])
    try Self.sendBadThenPing(Array(Self.deepRequest(5, id: 5).utf8), on: sidecar) { answer in
      expectError(answer, code: -32600, id: 5, reason: "nestingTooDeep")
      #expect(answer["error"]?["data"]?["limit"] == 5)
    }
  }

  // MARK: - Size

  /// A valid ping request of exactly `size` bytes (padded inside a string param).
  static func paddedPing(size: Int, id: Int) -> [UInt8] {
    let head = #"{"jsonrpc":"2.0","id":\#(id),"method":"ping","params":{"pad":""#
    let tail = #""}}"#
    let padding = size - head.utf8.count - tail.utf8.count
    return Array((head + String(repeating: "x", count: padding) + tail).utf8)
  }

  @Test(
    "a message over --max-message-bytes is refused; one at the limit is served",
    arguments: SidecarProcess.Framing.allCases)
  func oversizeSmallLimit(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--max-message-bytes", "4096"])
    try sidecar.sendRaw(SidecarProcess.frame(Self.paddedPing(size: 4096, id: 1), framing))
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 1, "result": [:]])
    for size in [4097, 5000, 100_000] {
      try Self.sendBadThenPing(Self.paddedPing(size: size, id: 2), on: sidecar) { answer in
        expectError(answer, code: -32600, id: nil, reason: "messageTooLarge")
        #expect(answer["error"]?["data"]?["limit"] == 4096)
      }
    }
    try sidecar.expectNothingMore()
  }

  @Test("a 2 MiB message is refused under the default 1 MiB limit", arguments: SidecarProcess.Framing.allCases)
  func oversizeDefaultLimit(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try Self.sendBadThenPing(Self.paddedPing(size: 2 << 20, id: 3), on: sidecar) { answer in
      expectError(answer, code: -32600, id: nil, reason: "messageTooLarge")
      #expect(answer["error"]?["data"]?["limit"] == .int(1 << 20))
    }
    try sidecar.sendRaw(SidecarProcess.frame(Self.paddedPing(size: 1 << 20, id: 4), framing))
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 4, "result": [:]])
  }

  /// Resident memory of `pid` in bytes, from /proc.
  static func residentBytes(_ pid: Int32) throws -> Int {
    let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
    let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
    let kilobytes = try #require(Int(line.split(separator: " ")[1]))
    return kilobytes * 1024
  }

  @Test("a huge declared Content-Length is refused without buffering the body")
  func hugeContentLength() throws {
    let sidecar = try SidecarProcess(framing: .contentLength, arguments: ["--partial-frame-timeout", "1"])
    try sidecar.expectNothingMore()
    try sidecar.sendRaw("Content-Length: 9999999999999999\r\n\r\n")
    let refused = try sidecar.nextMessage()
    expectError(refused, code: -32600, id: nil, reason: "messageTooLarge")
    // Stream 16 MiB of the declared body: it is skipped, not kept.
    let chunk = [UInt8](repeating: UInt8(ascii: "x"), count: 1 << 20)
    for _ in 0..<16 { try sidecar.sendRaw(chunk) }
    #expect(try sidecar.staysQuiet(for: 0.2))
    #expect(try Self.residentBytes(sidecar.pid) < 100 << 20)
    // The body never ends; after the partial-frame timeout the server gives up on it and frames work again.
    let stalled = try sidecar.nextMessage(timeout: 5)
    expectError(stalled, code: -32700, id: nil, reason: "stalled")
    #expect(try sidecar.request("ping", id: 1) == ["jsonrpc": "2.0", "id": 1, "result": [:]])
    #expect(try Self.residentBytes(sidecar.pid) < 100 << 20)
  }

  @Test("a Content-Length too large for any integer is refused as too large")
  func overflowingContentLength() throws {
    let sidecar = try SidecarProcess(framing: .contentLength, arguments: ["--partial-frame-timeout", "1"])
    try sidecar.expectNothingMore()
    try sidecar.sendRaw("Content-Length: 123456789012345678901234567890\r\n\r\n{}")
    expectError(try sidecar.nextMessage(), code: -32600, id: nil, reason: "messageTooLarge")
    expectError(try sidecar.nextMessage(timeout: 5), code: -32700, id: nil, reason: "stalled")
    try sidecar.expectNothingMore()
  }

  // MARK: - Content-Length framing faults

  @Test(
    "a header block without a usable Content-Length is a parse error, and the next frame is served",
    arguments: [
      "Content-Type: x\r\n\r\n", "Content-Length: abc\r\n\r\n", "Content-Length: -5\r\n\r\n",
      "Content-Length: 0\r\n\r\n", "Content-Length: 1 2\r\n\r\n", "Content-Length:\r\n\r\n",
      "Content-Length: 40\r\nContent-Length: 41\r\n\r\n", "Content-Length: 0x20\r\n\r\n",
    ]
  )
  func invalidHeader(header: String) throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    try sidecar.expectNothingMore()
    // The orphaned body after the bad block must not be served.
    let orphan = Array(#"{"jsonrpc":"2.0","id":"orphan","method":"ping"}"#.utf8)
    try sidecar.sendRaw(Array(header.utf8) + orphan + SidecarProcess.frame(Self.ping, .contentLength))
    expectError(try sidecar.nextMessage(), code: -32700, id: nil, reason: "invalidHeader")
    #expect(try sidecar.nextMessage() == Self.pong)
    try sidecar.expectNothingMore()
  }

  @Test("header names are case-insensitive and other headers are ignored")
  func headerVariants() throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    let body = Array(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#.utf8)
    try sidecar.sendRaw(
      Array("content-length: \(body.count)\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n".utf8)
        + body)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 1, "result": [:]])
    try sidecar.sendRaw(Array("CONTENT-LENGTH:\(body.count)\n\n".utf8) + body)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": 1, "result": [:]])
  }

  @Test("garbage between frames gets no answer and the next frame is served")
  func garbageBetweenFrames() throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    try sidecar.expectNothingMore()
    let garbage: [[UInt8]] = [
      Array("hello there\r\n".utf8), [0x00, 0xFF, 0x13, 0x37, 0x0A], Array("{\"jsonrpc\":\"2.0\"}\r\n\r\n".utf8),
      Array(repeating: UInt8(ascii: "@"), count: 100_000), Array("\r\n\r\n(garbage)\r\n".utf8),
    ]
    for bytes in garbage {
      try sidecar.sendRaw(bytes + SidecarProcess.frame(Self.ping, .contentLength))
      #expect(try sidecar.nextMessage() == Self.pong)
    }
    try sidecar.expectNothingMore()
  }

  @Test("blank lines between frames are tolerated in both framings", arguments: SidecarProcess.Framing.allCases)
  func blankLinesBetweenFrames(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.sendRaw(Array("\r\n\n \t\r\n".utf8) + SidecarProcess.frame(Self.ping, framing) + Array("\n\r\n".utf8))
    #expect(try sidecar.nextMessage() == Self.pong)
    try sidecar.expectNothingMore()
  }

  @Test("a Content-Length that understates the body costs that message only")
  func understatedLength() throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    try sidecar.expectNothingMore()
    let body = Array(#"{"jsonrpc":"2.0","id":"cut","method":"ping"}"#.utf8)
    try sidecar.sendRaw(
      Array("Content-Length: 10\r\n\r\n".utf8) + body + SidecarProcess.frame(Self.ping, .contentLength))
    expectError(try sidecar.nextMessage(), code: -32700, id: nil)
    #expect(try sidecar.nextMessage() == Self.pong)
    try sidecar.expectNothingMore()
  }

  @Test(
    "a bad frame whose body ends in a prefix of Content-Length: the next request, sent later, is answered",
    arguments: ["c", "Con", "Content-Length"])
  func badBodyEndingInMarkerPrefix(tail: String) throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    try sidecar.expectNothingMore()
    let bad = Array(#"{"jsonrpc":"2.0","id":1,"#.utf8) + Array(tail.utf8)
    try sidecar.sendRaw(Array("Content-Length: \(bad.count)\r\n\r\n".utf8) + bad)
    expectError(try sidecar.nextMessage(), code: -32700, id: nil)
    try sidecar.send(#"{"jsonrpc":"2.0","id":"next","method":"ping"}"#)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": "next", "result": [:]])
    try sidecar.expectNothingMore()
  }

  @Test("a Content-Length that overstates the body: the frame hidden in it is recovered")
  func overstatedLength() throws {
    let sidecar = try SidecarProcess(framing: .contentLength)
    try sidecar.expectNothingMore()
    let first = Array(#"{"jsonrpc":"2.0","id":"first","method":"ping"}"#.utf8)
    let second = Array(#"{"jsonrpc":"2.0","id":"second","method":"ping"}"#.utf8)
    let third = Array(#"{"jsonrpc":"2.0","id":"third","method":"ping"}"#.utf8)
    try sidecar.sendRaw(
      Array("Content-Length: \(first.count + 30)\r\n\r\n".utf8) + first
        + SidecarProcess.frame(second, .contentLength) + SidecarProcess.frame(third, .contentLength))
    expectError(try sidecar.nextMessage(), code: -32700, id: nil)
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": "second", "result": [:]])
    #expect(try sidecar.nextMessage() == ["jsonrpc": "2.0", "id": "third", "result": [:]])
    try sidecar.expectNothingMore()
  }

  @Test(
    "a frame cut by end of input: at most a parse error, then a clean exit", arguments: SidecarProcess.Framing.allCases)
  func truncatedByEOF(framing: SidecarProcess.Framing) throws {
    let cuts: [[UInt8]] =
      switch framing {
      case .newline: [Array(#"{"jsonrpc":"2.0","id":1,"method":"pi"#.utf8)]
      case .contentLength:
        [
          Array("Content-Length: 60\r\n\r\n{\"jsonrpc\":\"2.0\"".utf8), Array("Content-Length: 60\r\n".utf8),
          Array("Content-Len".utf8),
        ]
      }
    for cut in cuts {
      let sidecar = try SidecarProcess(framing: framing)
      try sidecar.expectNothingMore()
      try sidecar.sendRaw(cut)
      sidecar.closeInput()
      let started = Date()
      let messages = try sidecar.readToEnd()
      #expect(messages.count <= 1)
      for message in messages { expectError(message, code: -32700, id: nil) }
      if framing == .contentLength, let message = messages.first {
        #expect(message["error"]?["data"]?["reason"] == "truncated")
      }
      #expect(try sidecar.waitForExit() == 0)
      #expect(Date().timeIntervalSince(started) < 3)
    }
  }

  @Test("a complete last line without its newline is still served at end of input")
  func lastLineWithoutNewline() throws {
    let sidecar = try SidecarProcess(framing: .newline)
    try sidecar.sendRaw(#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)
    sidecar.closeInput()
    #expect(try sidecar.readToEnd() == [["jsonrpc": "2.0", "id": 1, "result": [:]]])
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("a stalled partial frame is dropped after --partial-frame-timeout", arguments: SidecarProcess.Framing.allCases)
  func stalledPartialFrame(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--partial-frame-timeout", "1"])
    try sidecar.expectNothingMore()
    let partial =
      switch framing {
      case .newline: Array(#"{"jsonrpc":"2.0","id":"lost","#.utf8)
      case .contentLength: Array("Content-Length: 100\r\n\r\n{\"jsonrpc\":\"2.0\",".utf8)
      }
    let started = Date()
    try sidecar.sendRaw(partial)
    let stalled = try sidecar.nextMessage(timeout: 5)
    let waited = Date().timeIntervalSince(started)
    expectError(stalled, code: -32700, id: nil, reason: "stalled")
    #expect(waited > 0.8 && waited < 4, "stalled after \(waited) s")
    #expect(try sidecar.request("ping", id: 2) == ["jsonrpc": "2.0", "id": 2, "result": [:]])
    try sidecar.expectNothingMore()
  }

  @Test("a slow but progressing frame is not dropped", arguments: SidecarProcess.Framing.allCases)
  func slowFrameNotStalled(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing, arguments: ["--partial-frame-timeout", "1"])
    let framed = SidecarProcess.frame(Self.ping, framing)
    for piece in [framed[..<10], framed[10..<30]] {
      try sidecar.sendRaw(Array(piece))
      #expect(try sidecar.staysQuiet(for: 0.4))
    }
    try sidecar.sendRaw(Array(framed[30...]))
    #expect(try sidecar.nextMessage() == Self.pong)
  }

  // MARK: - Usage params

  /// A bad usage request and the parameter its -32602 must name.
  struct BadParams: Sendable, CustomTestStringConvertible {
    let method: String
    let params: String
    let field: String
    var testDescription: String { "\(method) \(params)" }
  }

  static let badParams: [BadParams] = [
    BadParams(method: "usage/increment", params: #"{"amount":1}"#, field: "metric"),
    BadParams(method: "usage/increment", params: #"{"metric":5}"#, field: "metric"),
    BadParams(method: "usage/increment", params: #"{"metric":null,"amount":2}"#, field: "metric"),
    BadParams(method: "usage/increment", params: #"{"metric":"nope"}"#, field: "metric"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":-1}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":1.5}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":"3"}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":1e300}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":9007199254740992}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":true}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","amount":[1]}"#, field: "amount"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","colour":"red"}"#, field: "colour"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","enforce":"yes"}"#, field: "enforce"),
    BadParams(method: "usage/increment", params: #"{"metric":"documents","key":7}"#, field: "key"),
    BadParams(method: "usage/increment", params: #"{"metric":"tokens","input":-3}"#, field: "input"),
    BadParams(method: "usage/increment", params: #"{"metric":"tokens","labels":{"model":5}}"#, field: "labels.model"),
    BadParams(method: "usage/increment", params: #"["documents"]"#, field: "params"),
    BadParams(method: "usage/decrement", params: #"{"metric":"documents","amount":-1}"#, field: "amount"),
    BadParams(method: "usage/setTier", params: #"{"tier":"gold"}"#, field: "tier"),
    BadParams(method: "usage/setTier", params: #"{"tier":1}"#, field: "tier"),
    BadParams(method: "usage/setTier", params: #"{}"#, field: "tier"),
    BadParams(method: "usage/get", params: #"{"metrics":"documents"}"#, field: "metrics"),
  ]

  /// What must not change when a request is refused: the global version, the tier, and every metric's `used`.
  static func state(_ snapshot: JSONData) -> JSONData {
    let used = (snapshot["metrics"]?.objectMembers ?? []).map { ($0.0, $0.1["used"] ?? .null) }
    return ["version": snapshot["version"] ?? .null, "tier": snapshot["tier"] ?? .null, "used": .object(used)]
  }

  @Test(
    "wrong usage params are -32602 naming the field, and nothing is applied", arguments: badParams,
    SidecarProcess.Framing.allCases)
  func wrongUsageParams(_ bad: BadParams, framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    // Some usage first, so "unchanged" is not just "still zero".
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 3])
    _ = try sidecar.call("usage/increment", ["metric": "tokens", "input": 10, "output": 5, "labels": ["model": "m"]])
    let before = Self.state(try sidecar.snapshot())
    try sidecar.send(#"{"jsonrpc":"2.0","id":"bad","method":"\#(bad.method)","params":\#(bad.params)}"#)
    expectError(try sidecar.nextMessage(), code: -32602, id: "bad", field: bad.field)
    #expect(Self.state(try sidecar.snapshot()) == before)
    // The same request as a notification is silently refused too.
    try sidecar.send(#"{"jsonrpc":"2.0","method":"\#(bad.method)","params":\#(bad.params)}"#)
    try sidecar.expectNothingMore()
    #expect(Self.state(try sidecar.snapshot()) == before)
    // And a valid increment still works.
    let after = try sidecar.call("usage/increment", ["metric": "documents"])
    #expect(after["used"] == 4)
  }

  // MARK: - Fuzz

  /// Random bytes, or a valid request with bytes flipped, inserted or cut.
  static func fuzzCase(_ index: Int, _ generator: inout SeededGenerator) -> [UInt8] {
    let template = Array(#"{"jsonrpc":"2.0","id":"fuzz","method":"usage/get","params":{"metrics":["documents"]}}"#.utf8)
    let structural = Array(#"{}[]":,\"0-eE.tn"#.utf8) + [0x00, 0x0A, 0x0D, 0xC3, 0xFF]
    switch index % 3 {
    case 0:
      return (0..<Int.random(in: 1...300, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
    case 1:
      return (0..<Int.random(in: 1...100, using: &generator)).map { _ in structural.randomElement(using: &generator)! }
    default:
      var bytes = template
      for _ in 0..<Int.random(in: 1...6, using: &generator) {
        let position = Int.random(in: 0..<bytes.count, using: &generator)
        switch Int.random(in: 0..<3, using: &generator) {
        case 0: bytes[position] = UInt8.random(in: 0...255, using: &generator)
        case 1: bytes.insert(structural.randomElement(using: &generator)!, at: position)
        default: bytes.removeSubrange(position...)
        }
        if bytes.isEmpty { bytes = [UInt8(ascii: "{")] }
      }
      return bytes
    }
  }

  @Test(
    "300 random messages never kill the process and every sentinel is answered in order",
    arguments: SidecarProcess.Framing.allCases)
  func fuzz(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.expectNothingMore()
    var generator = SeededGenerator(seed: framing == .newline ? 0x5EED : 0xC0FFEE)
    for index in 0..<300 {
      let bytes = Self.fuzzCase(index, &generator)
      let sentinel = JSONData.string("sentinel-\(index)")
      let ping = Array(JSONData.object([("jsonrpc", "2.0"), ("id", sentinel), ("method", "ping")]).jsonText.utf8)
      switch framing {
      case .newline: try sidecar.sendRaw(bytes + [0x0A] + ping + [0x0A])
      case .contentLength:
        try sidecar.sendRaw(SidecarProcess.frame(bytes, framing) + SidecarProcess.frame(ping, framing))
      }
      // Whatever the random bytes earn comes first; no answer may carry a sentinel id but the current one.
      var extra = 0
      while true {
        let message = try sidecar.nextMessage()
        if message["id"] == sentinel {
          #expect(message == ["jsonrpc": "2.0", "id": sentinel, "result": [:]])
          break
        }
        let answers = message.array ?? [message]
        for answer in answers {
          #expect(answer["jsonrpc"] == "2.0", "case \(index): \(message.jsonText)")
          #expect(answer["id"]?.string?.hasPrefix("sentinel-") != true, "case \(index): \(message.jsonText)")
        }
        extra += 1
        #expect(extra < 50, "case \(index): too many answers")
        if extra >= 50 { return }
      }
      #expect(sidecar.process.isRunning, "case \(index)")
    }
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }
}
