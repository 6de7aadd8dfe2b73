import Foundation
import JSON

/// One scenario from `protocol/examples`: what a client writes and what usagectx must write back, in order.
///
/// The file format (described in `protocol/README.md`) is one JSON object per line:
/// `{"args": [...]}` (first line only: command-line flags), `{"note": "..."}` (ignored),
/// `{"send": message}`, `{"sendRaw": "text"}`, `{"expect": message}`, `{"expectNothing": true}` and
/// `{"expectExit": code}`.
struct Transcript: Sendable, CustomStringConvertible {
  enum Step: Sendable {
    /// Write `body` (the message's exact text from the file) as one message.
    case send(body: String, message: JSONData)
    /// Write `body` as one message, whether or not it is JSON.
    case sendRaw(String)
    /// The next message usagectx writes must match.
    case expect(JSONData)
    /// Nothing may come before the answer to a sentinel request the replayer sends.
    case expectNothing
    /// The process must end with this exit status, having written nothing more.
    case expectExit(Int32)
  }

  /// A step and the line of the file it came from.
  struct Line: Sendable {
    let number: Int
    let step: Step
  }

  enum ParseFailure: Error, CustomStringConvertible {
    case badLine(file: String, line: Int, String)
    var description: String {
      switch self {
      case .badLine(let file, let line, let why): return "\(file):\(line): \(why)"
      }
    }
  }

  /// The file name, e.g. `lifecycle.jsonl`.
  let name: String
  /// Flags usagectx is started with.
  let arguments: [String]
  let lines: [Line]

  var description: String { name }

  /// Reads a transcript file.
  init(contentsOf url: URL) throws {
    try self.init(name: url.lastPathComponent, text: String(contentsOf: url, encoding: .utf8))
  }

  init(name: String, text: String) throws {
    self.name = name
    var arguments: [String] = []
    var lines: [Line] = []
    for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let number = index + 1
      let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
      if line.isEmpty { continue }
      func fail(_ why: String) -> ParseFailure { .badLine(file: name, line: number, why) }
      let object: JSONData
      do {
        object = try JSONData(parsing: line, maxDepth: 10_000)
      } catch {
        throw fail("not JSON: \(error)")
      }
      guard let members = object.objectMembers, members.count == 1, let (key, value) = members.first else {
        throw fail("each line must be an object with exactly one member")
      }
      switch key {
      case "args":
        guard lines.isEmpty, arguments.isEmpty, let list = value.array?.compactMap(\.string),
          list.count == value.array?.count
        else { throw fail("args must be an array of strings on the first line") }
        arguments = list
      case "note":
        continue
      case "send":
        lines.append(
          Line(number: number, step: .send(body: try Self.rawValue(of: line, matching: value, fail), message: value)))
      case "sendRaw":
        guard let text = value.string else { throw fail("sendRaw takes a string") }
        lines.append(Line(number: number, step: .sendRaw(text)))
      case "expect":
        lines.append(Line(number: number, step: .expect(value)))
      case "expectNothing":
        guard value == .bool(true) else { throw fail("expectNothing takes true") }
        lines.append(Line(number: number, step: .expectNothing))
      case "expectExit":
        guard let code = value.int, let status = Int32(exactly: code) else {
          throw fail("expectExit takes an exit status")
        }
        lines.append(Line(number: number, step: .expectExit(status)))
      default:
        throw fail("unknown step \(key)")
      }
    }
    self.arguments = arguments
    self.lines = lines
  }

  /// The exact text of the value in a `{"send": value}` line, so numbers such as `2.0` reach usagectx as written.
  private static func rawValue(
    of line: String, matching value: JSONData, _ fail: (String) -> ParseFailure
  ) throws -> String {
    guard let colon = line.firstIndex(of: ":"), line.hasSuffix("}") else { throw fail("malformed send line") }
    let body = line[line.index(after: colon)..<line.index(before: line.endIndex)]
      .trimmingCharacters(in: .whitespaces)
    guard let reparsed = try? JSONData(parsing: body, maxDepth: 10_000), reparsed == value else {
      throw fail("the send value must be the line's only member")
    }
    return body
  }

  /// Every message the client sends in the transcript (batch elements one by one).
  var sentMessages: [JSONData] {
    lines.flatMap { line -> [JSONData] in
      guard case .send(_, let message) = line.step else { return [] }
      return message.array ?? [message]
    }
  }

  /// Every message the transcript expects from usagectx (batch answers one by one).
  var expectedMessages: [JSONData] {
    lines.flatMap { line -> [JSONData] in
      guard case .expect(let message) = line.step else { return [] }
      return message.array ?? [message]
    }
  }
}

/// Compares an expected JSON value with an actual one: member order is ignored, integers and reals compare by
/// value (reals within a relative 1e-9, for sums of costs), and the string `"$any"` in the expected value matches
/// anything.
enum JSONMatch {
  static let wildcard: JSONData = "$any"

  /// The differences, one `path: what` line each; empty when the values match.
  static func differences(expected: JSONData, actual: JSONData, path: String = "$") -> [String] {
    if expected == wildcard { return [] }
    switch (expected, actual) {
    case (.object(let wanted), .object(let got)):
      var found: [String] = []
      for (key, value) in wanted {
        if let member = got.first(where: { $0.0 == key })?.1 {
          found += differences(expected: value, actual: member, path: "\(path).\(key)")
        } else {
          found.append("\(path).\(key): missing (expected \(value.jsonText))")
        }
      }
      let wantedKeys = Set(wanted.map(\.0))
      for key in got.map(\.0) where !wantedKeys.contains(key) {
        found.append("\(path).\(key): unexpected member \(actual[key]?.jsonText ?? "")")
      }
      return found
    case (.array(let wanted), .array(let got)):
      guard wanted.count == got.count else {
        return ["\(path): expected \(wanted.count) elements, got \(got.count): \(actual.jsonText)"]
      }
      return zip(wanted, got).enumerated().flatMap { index, pair in
        differences(expected: pair.0, actual: pair.1, path: "\(path)[\(index)]")
      }
    default:
      return equal(expected, actual) ? [] : ["\(path): expected \(expected.jsonText), got \(actual.jsonText)"]
    }
  }

  /// `true` when the values match (wildcards in `expected` included).
  static func equal(_ expected: JSONData, _ actual: JSONData) -> Bool {
    switch (expected, actual) {
    case (.int(let a), .int(let b)): return a == b
    case (.int, .double), (.double, .int), (.double, .double):
      guard let a = expected.number, let b = actual.number else { return false }
      return a == b || abs(a - b) <= 1e-9 * max(abs(a), abs(b))
    case (.object, .object), (.array, .array):
      return differences(expected: expected, actual: actual).isEmpty
    default:
      return expected == wildcard || expected == actual
    }
  }
}

/// Plays a transcript against a freshly started usagectx in one framing.
struct TranscriptReplayer {
  let transcript: Transcript
  let framing: SidecarProcess.Framing

  /// Writes to a process that has gone must fail with EPIPE rather than end the test run.
  private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

  /// Replays every step; returns `nil` when usagectx wrote exactly what the transcript says, else what went wrong
  /// (the first mismatch, with the expected and actual messages).
  func run() throws -> String? {
    _ = Self.ignoreBrokenPipes
    let sidecar = try SidecarProcess(framing: framing, arguments: transcript.arguments)
    var sentinels = 0
    var exited = false
    for line in transcript.lines {
      func failure(_ what: String) -> String {
        var text = "\(transcript.name):\(line.number) (\(framing.rawValue) framing): \(what)"
        let stderr = sidecar.stderrText
        if !stderr.isEmpty { text += "\nusagectx stderr:\n\(stderr.suffix(2000))" }
        return text
      }
      switch line.step {
      case .send(let body, _):
        try sidecar.send(body)
      case .sendRaw(let body):
        try sidecar.send(body)
      case .expect(let expected):
        let actual: JSONData
        do {
          actual = try sidecar.nextMessage()
        } catch {
          return failure("expected \(expected.jsonText)\nbut \(error)")
        }
        let differences = JSONMatch.differences(expected: expected, actual: actual)
        if !differences.isEmpty {
          return failure(
            "message differs from the transcript:\n  " + differences.prefix(12).joined(separator: "\n  ")
              + "\nexpected: \(expected.jsonText)\nactual:   \(actual.jsonText)")
        }
      case .expectNothing:
        sentinels += 1
        let id = JSONData.string("expect-nothing-\(sentinels)")
        try sidecar.send(["jsonrpc": "2.0", "id": id, "method": "ping"])
        let next: JSONData
        do {
          next = try sidecar.nextMessage()
        } catch {
          return failure("no answer to the sentinel request: \(error)")
        }
        if next["id"] != id || next["method"] != nil {
          return failure("expected nothing, got \(next.jsonText)")
        }
      case .expectExit(let code):
        let rest: [JSONData]
        do {
          rest = try sidecar.readToEnd()
        } catch {
          return failure("expected the session to end: \(error)")
        }
        if !rest.isEmpty {
          return failure("unexpected messages before the end: \(rest.map(\.jsonText).joined(separator: "\n"))")
        }
        let status = try sidecar.waitForExit()
        if status != code { return failure("exit status \(status), expected \(code)") }
        exited = true
      }
    }
    guard !exited else { return nil }
    // Whatever is left must be nothing: end the input and read to the end.
    sidecar.closeInput()
    let rest = try sidecar.readToEnd()
    if !rest.isEmpty {
      return "\(transcript.name) (\(framing.rawValue) framing): unexpected messages after the last step:\n"
        + rest.map(\.jsonText).joined(separator: "\n")
    }
    let status = try sidecar.waitForExit()
    return status == 0 ? nil : "\(transcript.name) (\(framing.rawValue) framing): exit status \(status) at end of input"
  }
}
