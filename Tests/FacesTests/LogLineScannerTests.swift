@testable import Faces
import Testing
import UsageCore

/// The log readers' fast path (``LogLineScanner``) against Jansson: on every line, tricky ones included, both must say
/// the same thing.
@Suite("Log line scanner")
struct LogLineScannerTests {
  static let usage =
    #""usage":{"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":5,"cache_read_input_tokens":6}"#
  static let head = #"{"type":"assistant","sessionId":"s","timestamp":"2025-11-20T10:00:01.5Z","requestId":"r","#

  /// Lines of Claude Code's format, each a trap for a scanner that looks for markers instead of reading JSON.
  static let claudeLines: [String] = [
    head + #""message":{"id":"m","model":"claude-opus-4-5","# + usage + "}}",
    // Escaped quotes and the marker inside a string of another entry type.
    #"{"type":"user","message":{"content":"say \"type\":\"assistant\",\"usage\":{\"input_tokens\":5}"}}"#,
    head + #""message":{"id":"m","content":[{"type":"text","text":"a \"quoted\" \\ word \/ \n\t\u00e9"}],"# + usage
      + "}}",
    // An escaped key or value the answer depends on: left to Jansson, same answer.
    #"{"\u0074ype":"assistant","timestamp":"2025-11-20T10:00:01Z","requestId":"r","message":{"id":"m","# + usage + "}}",
    head + #""message":{"id":"m\u002d1","model":"claude\u002dx","# + usage + "}}",
    // Duplicate members: the last one counts.
    #"{"type":"user","type":"assistant","timestamp":"2025-11-20T10:00:01Z","requestId":"r","message":{"id":"m","#
      + usage
      + "}}",
    head + #""message":{"id":"m","# + usage + #"},"message":{"id":"x"}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":1},"usage":{"output_tokens":9}}}"#,
    head + #""message":"text","message":{"id":"m","# + usage + "}}",
    // Numbers: reals, exponents, negatives, leading zeros, too large, null.
    head + #""message":{"id":"m","usage":{"input_tokens":1.0}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":1e2}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":-5}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":05}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":99999999999999999999}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":999999999999999999}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":null,"output_tokens":7}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":"3"}}}"#,
    head + #""message":{"id":"m","usage":{"input_tokens":0}}}"#,
    head + #""message":{"id":"m","usage":[1,2]}}"#,
    head + #""message":{"id":"m","model":"<synthetic>","# + usage + "}}",
    head + #""x":-0.25e-3,"message":{"id":"m","# + usage + "}}",
    // Keys: by uuid only, none.
    #"{"type":"assistant","timestamp":"2025-11-20T10:00:01Z","uuid":"u","message":{"# + usage + "}}",
    #"{"type":"assistant","timestamp":"2025-11-20T10:00:01Z","message":{"# + usage + "}}",
    #"{"type":"assistant","timestamp":5,"message":{"# + usage + "}}",
    // Not JSON, or not an object.
    head + #""message":{"id":"m","# + usage + "}} x",
    head + #""message":{"id":"m","# + usage + "},}",
    head + #""message":{"id":"m" "# + usage + "}}",
    head + #""message":{"id":"m","# + usage + "}",
    head + #""message":{"id":"m\q","# + usage + "}}",
    head + #""message":{"id":"\u12","# + usage + "}}",
    head + #""message":{"id":"\ud800","# + usage + "}}",
    head + #""message":{"id":"\ud83d\ude00","# + usage + "}}",
    head + #""message":{"id":"m","x":tru,"# + usage + "}}",
    head + #""message":{"id":"m","a\u0000b":1,"# + usage + "}}",
    head + #""message":{"id":"m","s":"a\u0000b","# + usage + "}}",
    head + "\"message\":{\"id\":\"m\",\"s\":\"tab\there\"," + usage + "}}",
    head + #""message":{"id":"m","d":"# + String(repeating: "[", count: 120) + String(repeating: "]", count: 120) + ","
      + usage + "}}",
    head + #""message":{"id":"m","d":"# + String(repeating: "[", count: 98) + String(repeating: "]", count: 98) + ","
      + usage + "}}",
    "  " + head + #""message":{"id":"m","# + usage + "}}  ",
    "[1,2", "42", "", "{}", "{", #"{"type":"assistant"}"#, "null",
  ]

  @Test("claude: the fast path says what Jansson says, line by line")
  func claudeAgreesWithJansson() {
    let reader = ClaudeLogReader()
    for line in Self.claudeLines {
      var text = line
      text.withUTF8 { buffer in
        let bytes = UnsafeRawBufferPointer(buffer)
        #expect(reader.read(bytes: bytes) == reader.parsed(bytes: bytes), "\(line)")
      }
    }
  }

  @Test("claude: invalid UTF-8 anywhere in a line is malformed, as Jansson says; valid multibyte text is read")
  func invalidBytes() {
    let reader = ClaudeLogReader()
    let prefix = Array((Self.head + #""message":{"id":"m","t":""#).utf8)
    let suffix = Array((#"","# + Self.usage + "}}").utf8)
    let cases: [[UInt8]] = [
      [0xC3, 0xA9], [0xE2, 0x82, 0xAC], [0xF0, 0x9F, 0x98, 0x80],  // valid: é € 😀
      [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80],
      [0x80], [0xC3], [0xE2, 0x82], [0xFF], [0x00], [0x1F],
    ]
    for (index, middle) in cases.enumerated() {
      let line = prefix + middle + suffix
      line.withUnsafeBytes { bytes in
        let fast = reader.read(bytes: bytes)
        #expect(fast == reader.parsed(bytes: bytes), "case \(index)")
        if index < 3 {
          guard case .usage = fast else {
            Issue.record("case \(index): no usage")
            return
          }
        } else {
          #expect(fast == .malformed, "case \(index)")
        }
      }
    }
  }

  @Test("codex: the fast path says what Jansson says, the session and model carried along alike")
  func codexAgreesWithJansson() {
    let event =
      #"{"timestamp":"2025-11-20T08:00:03.123456Z","type":"event_msg","payload":{"type":"token_count","info":"#
    let lines: [String] = [
      #"{"type":"session_meta","payload":{"id":"sess-1","cwd":"/x"}}"#,
      #"{"type":"turn_context","payload":{"model":"gpt-5-codex","text":"\"type\":\"token_count\""}}"#,
      event
        + #"{"total_token_usage":{"total_tokens":99},"last_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":2}}}}"#,
      event + #"{"last_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":2}}}}"#,
      event + #"{"total_token_usage":{},"last_token_usage":{"input_tokens":10,"output_tokens":2}}}}"#,
      event + #"{"total_token_usage":{"total_tokens":-1},"last_token_usage":{"input_tokens":10,"output_tokens":2}}}}"#,
      event + #"{"last_token_usage":{"input_tokens":3,"cached_input_tokens":4,"output_tokens":2}}}}"#,
      event + #"{"last_token_usage":{"input_tokens":null,"output_tokens":2}}}}"#,
      event + #"{"last_token_usage":5}}}"#,
      event + #"{"total_token_usage":{"total_tokens":100}}}}"#,
      event + "null}}",
      #"{"type":"event_msg","payload":{"type":"token_count","info":{"last_token_usage":{"input_tokens":1}}}}"#,
      #"{"type":"event_msg","payload":{"type":"agent_message","message":"\"token_count\" \"info\""}}"#,
      #"{"type":"turn_context","payload":{"model":"gpt\u002d5"}}"#,
      event + #"{"last_token_usage":{"input_tokens":10,"output_tokens":2}}}}"#,
      #"{"type":"session_meta","payload":{"id":7}}"#,
      #"{"type":"session_meta","payload":"x","payload":{"id":"sess-2"}}"#,
      event + #"{"last_token_usage":{"input_tokens":11,"output_tokens":2}}}}"#,
      #"{"type":"turn_context"}"#,
      #"{"type":"turn_context","payload":{"model":"o3"}} trailing"#,
      event + #"{"last_token_usage":{"input_tokens":12,"output_tokens":2}}}}"#,
      "not json",
    ]
    var fast = CodexLogReader(fileName: "/x/rollout-1.jsonl")
    var slow = fast
    for line in lines {
      var text = line
      text.withUTF8 { buffer in
        let bytes = UnsafeRawBufferPointer(buffer)
        #expect(fast.read(bytes: bytes) == slow.readParsed(bytes: bytes), "\(line)")
        #expect(fast.session == slow.session && fast.model == slow.model, "\(line)")
      }
    }
    #expect(fast.session == "sess-2" && fast.model == "gpt-5")
  }

  @Test("the scanner finds members by path, leaves what it cannot be sure of to Jansson")
  func scanner() {
    let scanner = LogLineScanner([
      .init(parent: LogLineScanner.root, name: "a"), .init(parent: 0, name: "b"),
      .init(parent: LogLineScanner.root, name: "c"),
    ])
    func scan(_ text: String) -> [LogLineScanner.Kind]? {
      var text = text
      return text.withUTF8 { buffer in
        scanner.scan(UnsafeRawBufferPointer(buffer)) { _, values in values.map { $0.map(\.kind) } }
      }
    }
    #expect(scan(#"{"a":{"b":12},"c":"x"}"#) == [.object, .integer, .string])
    #expect(scan(#"{"x":{"a":1,"b":2},"c":null}"#) == [.absent, .absent, .null])
    #expect(scan(#"{"a":{"b":1},"a":[]}"#) == [.other, .absent, .absent])
    #expect(scan(#"{"a":{"b":1},"a":{}}"#) == [.object, .absent, .absent])
    #expect(scan(#"{"x":{"\u0061":1}}"#) == [.absent, .absent, .absent])  // an escaped key nobody looks at
    #expect(scan(#"{"\u0061":1}"#) == nil)
    #expect(scan(#"{"a":1e5}"#) == nil)
    #expect(scan(#"{"a":1,}"#) == nil)
    #expect(scan("{\"a\":\"\u{7F}é\"}") == [.string, .absent, .absent])
  }
}

extension LogLineScannerTests {
  @Test("eight bytes at a time: a quote, backslash, control or non-ASCII byte is found at any position")
  func specialBytes() {
    for position in 0..<8 {
      for byte in 0...255 {
        var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 8)
        bytes[position] = UInt8(byte)
        let word = bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        let expected = byte < 0x20 || byte >= 0x80 || byte == 0x22 || byte == 0x5C
        #expect(LogLineScanner.special(word) == expected, "byte \(byte) at \(position)")
      }
    }
    // Neighbours that could borrow into one another: every pair of plain bytes stays plain.
    for first in 0x20..<0x80 where first != 0x22 && first != 0x5C {
      for second in [0x20, 0x21, 0x23, 0x5B, 0x5D, 0x7F] {
        let bytes = [UInt8](repeating: UInt8(first), count: 4) + [UInt8](repeating: UInt8(second), count: 4)
        #expect(!LogLineScanner.special(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }))
      }
    }
  }

  @Test("long strings on either side of the eight-byte steps: quotes, escapes and bad bytes at every offset")
  func offsets() {
    let reader = ClaudeLogReader()
    for length in 0..<24 {
      for insert in ["\\\"", "\\\\", "é", "\u{7F}", "\t", "\\u0041"] {
        let text = String(repeating: "x", count: length) + insert + String(repeating: "y", count: 24 - length)
        var line =
          LogLineScannerTests.head + #""message":{"id":"m","t":""# + text + #"","# + LogLineScannerTests.usage
          + "}}"
        line.withUTF8 { buffer in
          let bytes = UnsafeRawBufferPointer(buffer)
          #expect(reader.read(bytes: bytes) == reader.parsed(bytes: bytes), "\(length) \(insert)")
        }
      }
    }
  }
}
