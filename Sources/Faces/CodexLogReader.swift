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

  public mutating func read(bytes: UnsafeRawBufferPointer) -> LogLine {
    guard let document = try? JSONDocument.parse(bytes) else { return .malformed }  // harmless: an unreadable line is counted as malformed
    let session = session
    let model = model
    let finding = document.withRoot { entry -> Finding in
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
}
