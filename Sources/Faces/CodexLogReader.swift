import JSON
import UsageCore

/// Codex CLI's session logs (`~/.codex/sessions/YYYY/MM/DD/rollout-….jsonl`), read line by line in order: a
/// `session_meta` line names the session, `turn_context` lines set the model, and each `event_msg` of type
/// `token_count` carries the last call's usage (`info.last_token_usage`: input tokens including the cached ones,
/// cached input tokens, output tokens) and the session's running total, which keys it.
public struct CodexLogReader: Sendable {
  /// The session, from `session_meta` or, until then, the file's name.
  public var session: String
  /// The model of the turn, from the last `turn_context`.
  public var model = "unknown"

  public init(fileName: String) {
    var name = Substring(fileName)
    if let slash = name.lastIndex(of: "/") { name = name[name.index(after: slash)...] }
    if name.hasSuffix(".jsonl") { name = name.dropLast(6) }
    session = String(name)
  }

  public mutating func read(_ line: String) -> LogLine {
    var line = line
    return line.withUTF8 { read(bytes: UnsafeRawBufferPointer($0)) }
  }

  /// What one line says: the session or the model it sets, or a call's usage.
  private enum Finding {
    case line(LogLine)
    case session(String)
    case model(String)
  }

  /// The members the fast path looks for, indexed as ``Member``.
  private static let scanner = LogLineScanner([
    .init(parent: LogLineScanner.root, name: "type"),
    .init(parent: LogLineScanner.root, name: "timestamp"),
    .init(parent: LogLineScanner.root, name: "payload"),
    .init(parent: Member.payload, name: "id"),
    .init(parent: Member.payload, name: "model"),
    .init(parent: Member.payload, name: "type"),
    .init(parent: Member.payload, name: "info"),
    .init(parent: Member.info, name: "last_token_usage"),
    .init(parent: Member.info, name: "total_token_usage"),
    .init(parent: Member.last, name: "input_tokens"),
    .init(parent: Member.last, name: "cached_input_tokens"),
    .init(parent: Member.last, name: "output_tokens"),
    .init(parent: Member.total, name: "total_tokens"),
  ])

  private enum Member {
    static let type = 0, timestamp = 1, payload = 2, id = 3, model = 4, payloadType = 5, info = 6, last = 7,
      total = 8, input = 9, cached = 10, output = 11, totalTokens = 12
    /// The strings the answer depends on.
    static let strings = [type, timestamp, id, model, payloadType]
  }

  public mutating func read(bytes: UnsafeRawBufferPointer) -> LogLine {
    let finding: Finding?
    if bytes.first == UInt8(ascii: "{") {
      let session = session
      let model = model
      finding = Self.scanner.scan(bytes) { bytes, values in Self.fastRead(bytes, values, session: session, model: model)
      }
    } else {
      finding = nil
    }
    return apply(finding ?? parsed(bytes: bytes))
  }

  /// What the scanned members say, or `nil` when Jansson must read the line (not valid for sure, or an escaped
  /// string the answer depends on).
  private static func fastRead(
    _ bytes: UnsafeRawBufferPointer, _ values: UnsafeBufferPointer<LogLineScanner.Value>?, session: String,
    model: String
  ) -> Finding? {
    guard let values else { return nil }
    for member in Member.strings where values[member].needsJansson { return nil }
    guard values[Member.payload].kind != .absent else { return .line(.other) }
    if values[Member.type].equals("session_meta", in: bytes) {
      return values[Member.id].string(in: bytes).map(Finding.session) ?? .line(.other)
    }
    if values[Member.type].equals("turn_context", in: bytes) {
      return values[Member.model].string(in: bytes).map(Finding.model) ?? .line(.other)
    }
    guard values[Member.type].equals("event_msg", in: bytes),
      values[Member.payloadType].equals("token_count", in: bytes),
      values[Member.info].kind != .absent, values[Member.info].kind != .null
    else {
      return .line(.other)
    }
    guard values[Member.last].kind != .absent, let at = LoggedUsage.moment(values[Member.timestamp].string(in: bytes))
    else {
      return .line(.malformed)
    }
    func count(_ member: Int) -> Int64? {
      let value = values[member]
      if value.kind == .absent { return 0 }
      guard let number = value.int64(in: bytes), number >= 0 else { return nil }
      return number
    }
    guard let input = count(Member.input), let cached = count(Member.cached), let output = count(Member.output),
      cached <= input
    else {
      return .line(.malformed)
    }
    if input + output == 0 { return .line(.other) }
    let total = values[Member.total].kind == .absent ? nil : count(Member.totalTokens)
    let key = "codex:\(session):" + (total.map(String.init) ?? at.iso8601)
    return .line(
      .usage(
        LoggedUsage(
          key: key, at: at, model: model, provider: "openai", conversation: session, tool: "codex",
          input: input - cached, output: output, cacheRead: cached)))
  }

  /// Reads one line with Jansson only, as before the fast path (tests compare the two).
  mutating func readParsed(bytes: UnsafeRawBufferPointer) -> LogLine {
    apply(parsed(bytes: bytes))
  }

  /// What the line found does to the reader.
  private mutating func apply(_ finding: Finding) -> LogLine {
    switch finding {
    case .line(let line): return line
    case .session(let name):
      self.session = name
      return .other
    case .model(let name):
      self.model = name
      return .other
    }
  }

  /// Reads one line's bytes with Jansson; the parsed tree is only looked into, never copied.
  private func parsed(bytes: UnsafeRawBufferPointer) -> Finding {
    // An unreadable line is counted as malformed.
    let document = try? JSONDocument.parse(bytes)  // harmless: counted as malformed
    guard let document else { return .line(.malformed) }
    let session = session
    let model = model
    return document.withRoot { entry -> Finding in
      guard entry.isObject else { return .line(.malformed) }
      guard let payload = entry["payload"] else { return .line(.other) }
      if entry["type"]?.stringEquals("session_meta") == true {
        return payload["id"]?.string.map(Finding.session) ?? .line(.other)
      }
      if entry["type"]?.stringEquals("turn_context") == true {
        return payload["model"]?.string.map(Finding.model) ?? .line(.other)
      }
      guard entry["type"]?.stringEquals("event_msg") == true, payload["type"]?.stringEquals("token_count") == true,
        let info = payload["info"], !info.isNull
      else {
        return .line(.other)
      }
      guard let last = info["last_token_usage"], let at = LoggedUsage.moment(entry["timestamp"]?.string) else {
        return .line(.malformed)
      }
      func count(_ usage: JSONValue, _ name: StaticString) -> Int64? {
        guard let value = usage[name] else { return 0 }
        guard let number = value.int64, number >= 0 else { return nil }
        return number
      }
      guard let input = count(last, "input_tokens"), let cached = count(last, "cached_input_tokens"),
        let output = count(last, "output_tokens"), cached <= input
      else {
        return .line(.malformed)
      }
      if input + output == 0 { return .line(.other) }
      let total = info["total_token_usage"].flatMap { count($0, "total_tokens") }
      let key = "codex:\(session):" + (total.map(String.init) ?? at.iso8601)
      return .line(
        .usage(
          LoggedUsage(
            key: key, at: at, model: model, provider: "openai", conversation: session, tool: "codex",
            input: input - cached, output: output, cacheRead: cached)))
    }
  }
}
