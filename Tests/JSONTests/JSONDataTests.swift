import JSON
import Testing

/// The owned JSON value: equality as JSON means it, and round trips through text.
@Suite("JSONData")
struct JSONDataTests {
  @Test("objects are equal whatever the order of their members")
  func memberOrderIgnored() {
    let a: JSONData = ["x": 1, "y": ["p": true, "q": nil], "z": [1, 2]]
    let b: JSONData = ["z": [1, 2], "y": ["q": nil, "p": true], "x": 1]
    #expect(a == b)
    #expect(b == a)
  }

  @Test("objects differing in a value, a key or a member count are not equal")
  func objectInequality() {
    let base: JSONData = ["x": 1, "y": 2]
    #expect(base != ["x": 1, "y": 3])
    #expect(base != ["x": 1, "w": 2])
    #expect(base != ["x": 1])
    #expect(base != ["x": 1, "y": 2, "z": 3])
    #expect(base != [1, 2])
  }

  @Test("equality is symmetric even when one side repeats a key")
  func symmetricWithRepeatedKeys() {
    let repeated: JSONData = .object([("x", 1), ("x", 1)])
    let distinct: JSONData = ["x": 1, "y": 2]
    #expect((repeated == distinct) == (distinct == repeated))
    #expect(repeated != distinct)
  }

  @Test("array order matters")
  func arrayOrder() {
    #expect(JSONData.array([1, 2]) != [2, 1])
    #expect(JSONData.array([1, [2, 3]]) == [1, [2, 3]])
  }

  @Test("numbers compare by value across integers and reals")
  func numericEquality() {
    #expect(JSONData.int(1) == .double(1.0))
    #expect(JSONData.double(1.0) == .int(1))
    #expect(JSONData.int(1) != .double(1.5))
    #expect(JSONData.double(1.5) != .int(1))
    #expect(JSONData.int(0) == .double(-0.0))
  }

  @Test("integers beyond 2^53 compare exactly")
  func largeIntegersExact() {
    #expect(JSONData.int(9_007_199_254_740_993) != .int(9_007_199_254_740_992))
    #expect(JSONData.int(Int64.max) != .int(Int64.max - 1))
    #expect(JSONData.int(9_007_199_254_740_993) != .double(9_007_199_254_740_992))
    #expect(JSONData.int(9_007_199_254_740_992) == .double(9_007_199_254_740_992))
  }

  @Test("values of different kinds are never equal")
  func kindsDiffer() {
    let values: [JSONData] = [nil, false, 0, "0", [], [:]]
    for (i, left) in values.enumerated() {
      for (j, right) in values.enumerated() {
        #expect((left == right) == (i == j), "\(left.jsonText) vs \(right.jsonText)")
      }
    }
  }

  static let samples: [JSONData] = [
    nil, true, false, 0, -1, .int(Int64.max), .int(Int64.min), 0.5, -1e300, 1e16, "", "plain",
    "quote \" backslash \\ newline \n tab \t nul \u{0} unit \u{1F} é 😀 \u{2028}",
    [], [:], [1, "two", nil, [3.5], ["k": false]],
    ["jsonrpc": "2.0", "id": "a\"b", "params": ["nested": ["deeper": [[[]]]]], "": "empty key"],
  ]

  @Test("writing and parsing back gives the same value", arguments: samples)
  func roundTrip(value: JSONData) throws {
    let text = value.jsonText
    let parsed = try JSONData(parsing: text)
    #expect(parsed == value)
    #expect(parsed.jsonText == text)
  }

  @Test("jsonText keeps member order and is compact")
  func compactText() {
    let value: JSONData = .object([("b", 1), ("a", [true, nil]), ("c", ["d": "e"])])
    #expect(value.jsonText == #"{"b":1,"a":[true,null],"c":{"d":"e"}}"#)
  }

  @Test("parsed integers stay integers and reals stay reals")
  func parsedKinds() throws {
    let value = try JSONData(parsing: "[1, 1.0, 9007199254740993]")
    #expect(value[0] == .int(1))
    #expect(value[1] == .double(1))
    #expect(value[2]?.int == 9_007_199_254_740_993)
    guard case .double = value[1] else {
      Issue.record("1.0 should parse as a real")
      return
    }
  }

  @Test("accessors read what they name and nothing else")
  func accessors() {
    let value: JSONData = ["s": "x", "i": 3, "d": 2.0, "f": 2.5, "b": true, "a": [1], "o": ["k": nil]]
    #expect(value["s"]?.string == "x")
    #expect(value["i"]?.int == 3)
    #expect(value["d"]?.int == 2)
    #expect(value["f"]?.int == nil)
    #expect(value["f"]?.number == 2.5)
    #expect(value["b"]?.bool == true)
    #expect(value["a"]?[0] == 1)
    #expect(value["a"]?[1] == nil)
    #expect(value["o"]?["k"] == .null)
    #expect(value["missing"] == nil)
    #expect(value["s"]?.int == nil)
    #expect(value[0] == nil)
  }

  @Test("parsing honours the depth limit")
  func parsingDepth() {
    #expect(throws: JSONParseError.self) { try JSONData(parsing: "[[[1]]]", maxDepth: 2) }
    #expect((try? JSONData(parsing: "[[1]]", maxDepth: 2)) == [[1]])
  }
}
