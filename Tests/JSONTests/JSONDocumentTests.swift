import JSON
import Testing

/// Parsing with the limits a server needs against hostile input: nesting depth, strict UTF-8, strict grammar.
@Suite("JSONDocument.parse")
struct JSONDocumentTests {
  /// `depth` arrays nested inside each other around a number.
  static func nestedArrays(_ depth: Int) -> String {
    String(repeating: "[", count: depth) + "1" + String(repeating: "]", count: depth)
  }

  /// `depth` objects nested inside each other around a number.
  static func nestedObjects(_ depth: Int) -> String {
    String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
  }

  /// Reads the root of `text` while its document is alive.
  static func root<R>(_ text: String, maxDepth: Int = 100, _ body: (JSONValue) -> R) throws -> R {
    let document = try JSONDocument.parse(text, maxDepth: maxDepth)
    return document.withRoot { body($0) }
  }

  static func parse(bytes: [UInt8], maxDepth: Int = 100) throws(JSONParseError) -> JSONDocument {
    var result: Result<JSONDocument, JSONParseError> = .failure(JSONParseError(.syntax, "unset", position: nil))
    bytes.withUnsafeBytes { buffer in
      do throws(JSONParseError) {
        result = .success(try JSONDocument.parse(buffer, maxDepth: maxDepth))
      } catch {
        result = .failure(error)
      }
    }
    return try result.get()
  }

  @Test("nesting exactly at the limit is accepted, one level more is refused", arguments: [2, 3, 10, 100, 1000])
  func depthBoundary(limit: Int) throws {
    for text in [Self.nestedArrays(limit), Self.nestedObjects(limit)] {
      #expect(try Self.root(text, maxDepth: limit) { $0.count } == 1)
    }
    for text in [Self.nestedArrays(limit + 1), Self.nestedObjects(limit + 1)] {
      let error = #expect(throws: JSONParseError.self) { try JSONDocument.parse(text, maxDepth: limit) }
      #expect(error?.kind == .tooDeep)
      #expect(error?.limit == limit)
    }
  }

  @Test("the top-level container counts as depth 1")
  func topLevelIsDepthOne() throws {
    #expect(try Self.root("[]", maxDepth: 1) { $0.isArray })
    #expect(try Self.root("{}", maxDepth: 1) { $0.isObject })
    #expect(try Self.root("[1,2,3]", maxDepth: 1) { $0.count } == 3)
    #expect(try Self.root(#"{"a":1,"b":"x"}"#, maxDepth: 1) { $0.count } == 2)
    #expect(throws: JSONParseError.self) { try JSONDocument.parse("[[]]", maxDepth: 1) }
    #expect(throws: JSONParseError.self) { try JSONDocument.parse(#"{"a":{}}"#, maxDepth: 1) }
    #expect(throws: JSONParseError.self) { try JSONDocument.parse(#"[{}]"#, maxDepth: 1) }
  }

  @Test("scalars at the top level are accepted")
  func topLevelScalars() throws {
    #expect(try Self.root("1", maxDepth: 2) { $0.int64 } == 1)
    #expect(try Self.root(#""x""#, maxDepth: 2) { $0.string } == "x")
    #expect(try Self.root("null", maxDepth: 2) { $0.isNull })
    #expect(try Self.root("true", maxDepth: 2) { $0.bool } == true)
    #expect(try Self.root("-2.5", maxDepth: 2) { $0.double } == -2.5)
  }

  @Test("depth is the deepest branch, not the first one")
  func deepestBranchCounts() throws {
    let text = #"[[1],{"a":[]},[[[2]]]]"#
    #expect(try Self.root(text, maxDepth: 4) { $0.count } == 3)
    let error = #expect(throws: JSONParseError.self) { try JSONDocument.parse(text, maxDepth: 3) }
    #expect(error?.kind == .tooDeep)
    let mixed = #"{"a":[{"b":[1]}],"c":0}"#
    #expect(try Self.root(mixed, maxDepth: 4) { $0.count } == 2)
    #expect(throws: JSONParseError.self) { try JSONDocument.parse(mixed, maxDepth: 3) }
  }

  @Test("brackets inside strings do not count as nesting")
  func bracketsInStrings() throws {
    let text = #"["[[[[[[{{{{{{", {"k[[[[": "{{{{"}]"#
    let document = try JSONDocument.parse(text, maxDepth: 2)
    #expect(document.withRoot { $0[0]?.string } == "[[[[[[{{{{{{")
  }

  @Test("nesting far beyond any limit is refused as too deep, not as a crash or a syntax error")
  func extremeNesting() {
    for text in [Self.nestedArrays(100_000), Self.nestedObjects(100_000)] {
      let error = #expect(throws: JSONParseError.self) { try JSONDocument.parse(text, maxDepth: 100) }
      #expect(error?.kind == .tooDeep)
      // Even with a generous limit the parser's own stack guard refuses it as too deep.
      let guarded = #expect(throws: JSONParseError.self) { try JSONDocument.parse(text, maxDepth: 1_000_000) }
      #expect(guarded?.kind == .tooDeep)
    }
  }

  @Test(
    "invalid UTF-8 is refused as a syntax error",
    arguments: [
      [0xFF, 0xFE],  // bytes that never occur in UTF-8
      [0xE2, 0x82],  // a three-byte sequence cut short
      [0xC0, 0xAF],  // overlong encoding of "/"
      [0xE0, 0x80, 0xAF],  // overlong three-byte encoding
      [0xED, 0xA0, 0x80],  // a UTF-16 surrogate encoded as UTF-8
      [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
      [0x80],  // a lone continuation byte
    ] as [[UInt8]]
  )
  func invalidUTF8(sequence: [UInt8]) {
    for (prefix, suffix) in [(#"[""#, #""]"#), (#"{""#, #"":1}"#)] {
      let bytes = Array(prefix.utf8) + sequence + Array(suffix.utf8)
      let error = #expect(throws: JSONParseError.self) { try Self.parse(bytes: bytes) }
      #expect(error?.kind == .syntax)
    }
    let bare = #expect(throws: JSONParseError.self) { try Self.parse(bytes: sequence) }
    #expect(bare?.kind == .syntax)
  }

  @Test("valid multibyte UTF-8 and escapes decode to the same string")
  func validUnicode() throws {
    let document = try JSONDocument.parse(#"["é😀€", "\u00e9\ud83d\ude00\u20ac", "\u2028"]"#)
    #expect(document.withRoot { $0[0]?.string } == "é😀€")
    #expect(document.withRoot { $0[1]?.string } == "é😀€")
    #expect(document.withRoot { $0[2]?.string } == "\u{2028}")
  }

  @Test("an escaped NUL inside a string is valid JSON and is kept")
  func escapedNul() throws {
    let document = try JSONDocument.parse(#"["a\u0000b"]"#)
    let bytes = document.withRoot { root in root[0]?.withStringBytes { Array($0) } }
    #expect(bytes == [0x61, 0x00, 0x62])
    #expect(document.withRoot { $0[0]?.string } == "a\u{0}b")
  }

  @Test(
    "texts that are not JSON are refused as syntax errors",
    arguments: [
      "", " ", "{", "[1,]", #"{"a":1,}"#, "{'a':1}", "01", "1.", ".5", "+1", "nul", "True", "NaN", "Infinity",
      "-Infinity", "1e999", "-1e999", "[1e999]", #"{"a":1}}"#, "{} x", "[1] [2]", #""\x""#, #""\u12""#, "\"a\nb\"",
      #""\ud800""#,
    ]
  )
  func syntaxErrors(text: String) {
    let error = #expect(throws: JSONParseError.self) { try JSONDocument.parse(text) }
    #expect(error?.kind == .syntax)
  }

  @Test("parse errors carry the byte offset of the problem")
  func errorPosition() {
    let error = #expect(throws: JSONParseError.self) { try JSONDocument.parse(#"{"a":1,"b":?}"#) }
    #expect(error?.position == 11 || error?.position == 12)
    #expect(error?.description.contains("at byte") == true)
  }

  @Test("integers and reals are kept apart, and large integers are exact")
  func numbers() throws {
    let document = try JSONDocument.parse("[9007199254740993, -9223372036854775808, 2.0, 1e2, 0.1]")
    #expect(document.withRoot { $0[0]?.int64 } == 9_007_199_254_740_993)
    #expect(document.withRoot { $0[1]?.int64 } == Int64.min)
    #expect(document.withRoot { $0[2]?.kind } == .real)
    #expect(document.withRoot { $0[2]?.int64 } == nil)
    #expect(document.withRoot { $0[2]?.double } == 2)
    #expect(document.withRoot { $0[3]?.double } == 100)
    #expect(document.withRoot { $0[4]?.double } == 0.1)
  }
}
