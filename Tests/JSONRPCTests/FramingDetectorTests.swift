import Testing

@testable import JSONRPC

@Suite("FramingDetector")
struct FramingDetectorTests {
  /// Runs the detector on the UTF-8 of `text`.
  static func detect(_ text: String, atEnd: Bool = false) -> Framing? {
    Array(text.utf8).withUnsafeBytes { FramingDetector.detect($0, atEnd: atEnd) }
  }

  @Test(arguments: [
    "Content-Length: 12\r\n\r\n", "content-length:", "CONTENT-LENGTH: 1", "Content-", "cOnTeNt-Type: x",
  ])
  func contentLengthFraming(prefix: String) {
    #expect(Self.detect(prefix) == .contentLength)
    #expect(Self.detect(prefix, atEnd: true) == .contentLength)
  }

  @Test(arguments: ["{\"jsonrpc\":\"2.0\"}\n", "[", "x", "Contents", "Content:", "content_length", "\u{FEFF}{}"])
  func newlineFraming(prefix: String) {
    #expect(Self.detect(prefix) == .newline)
    #expect(Self.detect(prefix, atEnd: true) == .newline)
  }

  @Test func leadingWhitespaceIsSkipped() {
    #expect(Self.detect(" \t\r\n\r\nContent-Length: 2") == .contentLength)
    #expect(Self.detect("\n\n  {\"id\":1}") == .newline)
  }

  @Test(arguments: ["", " ", "\r\n\t ", "C", "c", "conTEN", "Content", "\r\n  Content"])
  func undecidedPrefixNeedsMoreBytes(prefix: String) {
    #expect(Self.detect(prefix) == nil)
  }

  @Test(arguments: ["", " ", "\r\n\t ", "C", "Content", "\n conte"])
  func undecidedPrefixAtEndIsNewline(prefix: String) {
    #expect(Self.detect(prefix, atEnd: true) == .newline)
  }

  @Test func decisionGrowsWithThePrefix() {
    let stream = Array("\r\nContent-Length: 5\r\n\r\nhello".utf8)
    let decisions = (0...stream.count).map { count in
      Array(stream[..<count]).withUnsafeBytes { FramingDetector.detect($0, atEnd: false) }
    }
    #expect(decisions.prefix(10).allSatisfy { $0 == nil })
    #expect(decisions.dropFirst(10).allSatisfy { $0 == .contentLength })
  }
}
