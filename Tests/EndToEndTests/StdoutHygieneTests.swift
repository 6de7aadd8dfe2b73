import Foundation
import JSON
import Testing

/// stdout carries nothing but frames of valid JSON-RPC messages, however noisy the session and the log.
@Suite("Stdout hygiene")
struct StdoutHygieneTests {
  /// Splits raw output into message bodies, requiring every byte to belong to a frame.
  static func frames(_ bytes: [UInt8], _ framing: SidecarProcess.Framing) -> [[UInt8]]? {
    var bodies: [[UInt8]] = []
    var rest = bytes[...]
    while !rest.isEmpty {
      switch framing {
      case .newline:
        guard let newline = rest.firstIndex(of: 0x0A) else { return nil }
        bodies.append(Array(rest[..<newline]))
        rest = rest[(newline + 1)...]
      case .contentLength:
        let prefix = Array("Content-Length: ".utf8)
        guard rest.starts(with: prefix) else { return nil }
        var index = rest.startIndex + prefix.count
        var length = 0
        var digits = 0
        while index < rest.endIndex, let digit = rest[index].asciiDigit {
          length = length * 10 + digit
          digits += 1
          index += 1
        }
        guard digits > 0, rest[index...].starts(with: [0x0D, 0x0A, 0x0D, 0x0A]) else { return nil }
        let start = index + 4
        guard rest.endIndex - start >= length else { return nil }
        bodies.append(Array(rest[start..<(start + length)]))
        rest = rest[(start + length)...]
      }
    }
    return bodies
  }

  /// `true` for a response (id plus exactly one of result and error) or a notification from the server.
  static func isServerMessage(_ message: JSONData) -> Bool {
    guard let members = message.objectMembers, message["jsonrpc"] == "2.0" else { return false }
    if let method = message["method"] {
      return method.string != nil && message["id"] == nil && members.count <= 3
    }
    guard let id = message["id"], id.string != nil || id.number != nil || id == .null else { return false }
    if let error = message["error"] {
      return message["result"] == nil && error["code"]?.int != nil && error["message"]?.string != nil
        && members.count == 3
    }
    return message["result"] != nil && members.count == 3
  }

  /// A session mixing good and bad input: initialize, a subscription (so usage/changed notifications are sent), a
  /// threshold crossing, batches, parse errors, invalid UTF-8, oversize and too-deep messages, then shutdown and exit.
  static func session(_ framing: SidecarProcess.Framing) -> (bytes: [UInt8], ids: [String]) {
    var bytes: [UInt8] = []
    var ids: [String] = []
    func message(_ text: String, id: String? = nil) {
      bytes += SidecarProcess.frame(Array(text.utf8), framing)
      if let id { ids.append(id) }
    }
    message(
      #"{"jsonrpc":"2.0","id":"init","method":"initialize","params":{"clientInfo":{"name":"hygiene"}}}"#, id: "init")
    message(#"{"jsonrpc":"2.0","method":"initialized"}"#)
    message(#"{"jsonrpc":"2.0","id":"sub","method":"usage/subscribe","params":{"metrics":["documents"]}}"#, id: "sub")
    message(
      #"{"jsonrpc":"2.0","id":"inc","method":"usage/increment","params":{"metric":"documents","amount":85}}"#, id: "inc"
    )
    message(#"{"jsonrpc":"2.0","method":"usage/increment","params":{"metric":"documents","amount":20}}"#)
    message(#"{"jsonrpc":"2.0","id":"bad","method":"usage/increment","params":{"metric":"nope"}}"#, id: "bad")
    message(#"{"jsonrpc":"2.0","id":"nf","method":"nope"}"#, id: "nf")
    message(#"{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]"#, id: "null")
    bytes += SidecarProcess.frame(
      Array(#"{"jsonrpc":"2.0","id":"x"#.utf8) + [0xC0, 0xAF] + Array(#""}"#.utf8), framing)
    ids.append("null")
    message(String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000), id: "null")
    message(
      #"{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"\#(String(repeating: "x", count: 5000))"}}"#,
      id: "null")
    message(#"[{"jsonrpc":"2.0","id":"b1","method":"ping"},1,{"jsonrpc":"2.0","method":"ping"}]"#, id: "batch")
    message(#"[{"jsonrpc":"2.0","method":"ping"}]"#)
    message(#"{"jsonrpc":"2.0","result":1,"id":99}"#)
    message(#"{"jsonrpc":"2.0","id":"tier","method":"usage/setTier","params":{"tier":"pro"}}"#, id: "tier")
    message(#"{"jsonrpc":"2.0","id":"esc","method":"ping\u0000\n\"é"}"#, id: "esc")
    if framing == .contentLength {
      bytes += Array("Content-Length: abc\r\n\r\n".utf8)
      ids.append("null")
      bytes += Array("garbage between frames\r\n".utf8)
    }
    message(#"{"jsonrpc":"2.0","id":"down","method":"shutdown"}"#, id: "down")
    message(#"{"jsonrpc":"2.0","id":"late","method":"ping"}"#, id: "late")
    message(#"{"jsonrpc":"2.0","method":"exit"}"#)
    return (bytes, ids)
  }

  @Test("every stdout byte belongs to a frame of a valid JSON-RPC message", arguments: SidecarProcess.Framing.allCases)
  func onlyFramesOnStdout(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(
      framing: framing, arguments: ["--log-level", "trace", "--max-message-bytes", "4096"])
    let (script, ids) = Self.session(framing)
    try sidecar.sendRaw(script)
    sidecar.closeInput()
    let output = try sidecar.rawOutputToEnd()
    #expect(try sidecar.waitForExit() == 0)
    let bodies = try #require(Self.frames(output, framing), "output is not a sequence of frames")
    var answered: [String] = []
    var notifications: [String] = []
    for body in bodies {
      let message = try JSONData(parsing: String(decoding: body, as: UTF8.self), maxDepth: 100)
      #expect(String(decoding: body, as: UTF8.self).utf8.elementsEqual(body), "body is valid UTF-8")
      if let batch = message.array {
        #expect(!batch.isEmpty)
        #expect(batch.allSatisfy(Self.isServerMessage), "\(message.jsonText)")
        answered.append("batch")
        continue
      }
      #expect(Self.isServerMessage(message), "\(message.jsonText)")
      if let method = message["method"]?.string {
        notifications.append(method)
      } else {
        answered.append(message["id"]?.string ?? "null")
      }
    }
    #expect(answered == ids)
    #expect(notifications.contains("usage/changed"))
    #expect(notifications.contains("usage/threshold"))
    // The log is busy, and all of it went to stderr.
    let deadline = Date().addingTimeInterval(2)
    while sidecar.stderrText.isEmpty && Date() < deadline { usleep(10_000) }
    #expect(!sidecar.stderrText.isEmpty)
  }
}

extension UInt8 {
  /// The value of an ASCII digit.
  fileprivate var asciiDigit: Int? { (0x30...0x39).contains(self) ? Int(self - 0x30) : nil }
}
