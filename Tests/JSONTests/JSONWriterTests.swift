import JSON
import Testing

/// The direct JSON writer: escaping, numbers, automatic commas, and rewinding a half-written value.
@Suite("JSONWriter")
struct JSONWriterTests {
  static func text(_ writer: borrowing JSONWriter) -> String {
    String(decoding: writer.bytes, as: UTF8.self)
  }

  static func written(_ body: (inout JSONWriter) -> Void) -> String {
    var writer = JSONWriter(capacity: 8)
    body(&writer)
    return text(writer)
  }

  @Test(
    "strings are escaped where JSON requires it and passed through otherwise",
    arguments: [
      ("plain", #""plain""#),
      ("say \"hi\"", #""say \"hi\"""#),
      ("back\\slash", #""back\\slash""#),
      ("a\nb\rc\td", #""a\nb\rc\td""#),
      ("\u{8}\u{C}", #""\b\f""#),
      ("\u{0}\u{1}\u{1F}", #""\u0000\u0001\u001f""#),
      ("\u{7F}", "\"\u{7F}\""),
      ("é😀€", "\"é😀€\""),
      ("\u{2028}\u{2029}", "\"\u{2028}\u{2029}\""),
      ("/", #""/""#),
      ("", #""""#),
    ]
  )
  func escaping(input: String, expected: String) throws {
    #expect(Self.written { $0.string(text: input) } == expected)
    // The text reads back to the same string.
    let document = try JSONDocument.parse("[" + expected + "]")
    #expect(document.withRoot { $0[0]?.string } == input)
  }

  @Test("every control character is escaped and reads back")
  func allControlCharacters() throws {
    let input = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
    let text = Self.written { $0.string(text: input) }
    #expect(!text.utf8.contains { $0 < 0x20 })
    #expect(try JSONData(parsing: text) == .string(input))
  }

  @Test("object keys are escaped too")
  func keyEscaping() throws {
    let text = Self.written { writer in
      writer.beginObject()
      writer.key(text: "a\"b\\c\n")
      writer.int(1)
      writer.key("plain")
      writer.int(2)
      writer.endObject()
    }
    #expect(text == #"{"a\"b\\c\n":1,"plain":2}"#)
    #expect(try JSONData(parsing: text) == ["a\"b\\c\n": 1, "plain": 2])
  }

  @Test(
    "integral doubles are written without a fraction",
    arguments: [
      (1.0, "1"), (-2.0, "-2"), (0.0, "0"), (-0.0, "0"), (123_456_789_012_345.0, "123456789012345"),
      (-999_999_999_999_999.0, "-999999999999999"),
    ]
  )
  func integralDoubles(value: Double, expected: String) {
    #expect(Self.written { $0.double(value) } == expected)
  }

  @Test(
    "other doubles are written in a form that reads back exactly",
    arguments: [
      0.1, 1.5, -2.25, 1e15, 1e16, 1e300, -1e-300, 5e-324, 0.30000000000000004, 123_456_789.123,
      Double.greatestFiniteMagnitude,
    ]
  )
  func doublesRoundTrip(value: Double) throws {
    let text = Self.written { $0.double(value) }
    #expect(!text.contains("inf") && !text.contains("nan"))
    let parsed = try JSONDocument.parse(text)
    #expect(parsed.withRoot { $0.double } == value)
  }

  @Test("NaN and infinities are written as null", arguments: [Double.nan, .infinity, -.infinity, .signalingNaN])
  func nonFinite(value: Double) {
    #expect(Self.written { $0.double(value) } == "null")
    #expect(
      Self.written {
        $0.beginArray()
        $0.double(value)
        $0.double(value)
        $0.endArray()
      } == "[null,null]")
  }

  @Test(
    "integers are written in decimal",
    arguments: [
      (Int64(0), "0"), (9, "9"), (10, "10"), (-1, "-1"), (-10, "-10"), (1_234_567_890, "1234567890"),
      (Int64.max, "9223372036854775807"), (Int64.min, "-9223372036854775808"),
    ]
  )
  func integers(value: Int64, expected: String) {
    #expect(Self.written { $0.int(value) } == expected)
  }

  @Test("commas go between values at every level of nesting and nowhere else")
  func commasAcrossNesting() throws {
    let text = Self.written { writer in
      writer.beginObject()
      writer.key("a")
      writer.beginArray()
      writer.int(1)
      writer.beginObject()
      writer.key("b")
      writer.null()
      writer.key("c")
      writer.beginArray()
      writer.endArray()
      writer.endObject()
      writer.beginArray()
      writer.beginArray()
      writer.bool(true)
      writer.endArray()
      writer.string("s")
      writer.endArray()
      writer.endArray()
      writer.key("d")
      writer.beginObject()
      writer.endObject()
      writer.key("e")
      writer.double(0.5)
      writer.endObject()
    }
    #expect(text == #"{"a":[1,{"b":null,"c":[]},[[true],"s"]],"d":{},"e":0.5}"#)
    _ = try JSONDocument.parse(text)
  }

  @Test("values written one after another at the top level are separated like array elements")
  func consecutiveTopLevelValues() {
    #expect(
      Self.written {
        $0.int(1)
        $0.string("x")
        $0.null()
      } == #"1,"x",null"#)
  }

  @Test("truncate rewinds a half-written value and restores the comma state given")
  func truncateRestoresCommaState() {
    let text = Self.written { writer in
      writer.beginArray()
      writer.int(1)
      let mark = writer.count
      let comma = writer.needsComma
      #expect(comma == true)
      writer.beginObject()
      writer.key("half")
      writer.beginArray()
      writer.int(2)
      writer.truncate(to: mark, needsComma: comma)
      let count = writer.count
      #expect(count == mark)
      writer.string("replacement")
      writer.endArray()
    }
    #expect(text == #"[1,"replacement"]"#)
  }

  @Test("truncate without a comma state starts the next value without a comma")
  func truncateDefaultsToNoComma() {
    let text = Self.written { writer in
      writer.beginArray()
      let mark = writer.count
      writer.int(1)
      writer.int(2)
      let before = writer.needsComma
      writer.truncate(to: mark)
      let after = writer.needsComma
      #expect(before && !after)
      writer.int(3)
      writer.endArray()
    }
    #expect(text == "[3]")
  }

  @Test("truncate past the end keeps the bytes, and reset forgets everything")
  func truncateBeyondEndAndReset() {
    var writer = JSONWriter()
    writer.beginArray()
    writer.int(42)
    writer.truncate(to: 100, needsComma: true)
    let count = writer.count
    #expect(count == 3)
    writer.int(7)
    writer.endArray()
    #expect(Self.text(writer) == "[42,7]")
    writer.reset()
    let (emptied, comma) = (writer.count, writer.needsComma)
    #expect(emptied == 0 && !comma)
    writer.int(5)
    #expect(Self.text(writer) == "5")
  }

  @Test("raw values take part in comma placement; raw bytes do not")
  func rawValuesAndBytes() {
    let text = Self.written { writer in
      writer.beginArray()
      Array(#"{"x":1}"#.utf8).withUnsafeBytes { writer.rawValue($0) }
      Array(#"[2]"#.utf8).withUnsafeBytes { writer.rawValue($0) }
      writer.endArray()
      Array("\n".utf8).withUnsafeBytes { writer.rawBytes($0) }
      let comma = writer.needsComma
      #expect(comma)
    }
    #expect(text == "[{\"x\":1},[2]]\n")
  }

  @Test("insert puts bytes in front of what was written")
  func insertInFront() {
    var writer = JSONWriter(capacity: 64)
    writer.beginObject()
    writer.key("k")
    writer.string(text: String(repeating: "v", count: 100))
    writer.endObject()
    let body = Self.text(writer)
    Array("Content-Length: \(body.utf8.count)\r\n\r\n".utf8).withUnsafeBytes { writer.insert($0, at: 0) }
    #expect(Self.text(writer) == "Content-Length: \(body.utf8.count)\r\n\r\n" + body)
  }

  @Test("the buffer grows past its initial capacity without losing bytes")
  func growth() throws {
    let items = (0..<5000).map { "item \($0) \"quoted\"" }
    let text = Self.written { writer in
      writer.beginArray()
      for item in items { writer.string(text: item) }
      writer.endArray()
    }
    #expect(try JSONData(parsing: text) == .array(items.map { .string($0) }))
  }

  @Test("a parsed value is written back unchanged, member order included")
  func echoParsedValue() throws {
    let text = #"{"z":1,"a":[true,false,null,"s\"\n",-5,2.5,{}],"m":{"y":[],"b":"é"}}"#
    let document = try JSONDocument.parse(text)
    #expect(Self.written { writer in document.withRoot { writer.value($0) } } == text)
    let nested = Self.written { writer in
      writer.beginArray()
      document.withRoot { root in
        writer.value(root)
        writer.value(root["m"]!)
      }
      writer.endArray()
    }
    #expect(nested == "[" + text + #",{"y":[],"b":"é"}]"#)
  }
}
