public import JSON
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
    guard let entry = try? JSONData(parsing: line) else { return .malformed }  // harmless: an unreadable line is counted as malformed
    guard let payload = entry["payload"] else { return entry.objectMembers == nil ? .malformed : .other }
    switch entry["type"]?.string {
    case "session_meta":
      if let id = payload["id"]?.string { session = id }
      return .other
    case "turn_context":
      if let model = payload["model"]?.string { self.model = model }
      return .other
    case "event_msg" where payload["type"]?.string == "token_count":
      guard let info = payload["info"], info != .null else { return .other }
      guard let last = info["last_token_usage"], let at = LoggedUsage.moment(entry["timestamp"]?.string) else {
        return .malformed
      }
      func count(_ usage: JSONData, _ name: String) -> Int64? {
        guard let value = usage[name] else { return 0 }
        guard let number = value.int, number >= 0 else { return nil }
        return number
      }
      guard let input = count(last, "input_tokens"), let cached = count(last, "cached_input_tokens"),
        let output = count(last, "output_tokens"), cached <= input
      else {
        return .malformed
      }
      if input + output == 0 { return .other }
      let total = info["total_token_usage"].flatMap { count($0, "total_tokens") }
      let key = "codex:\(session):" + (total.map(String.init) ?? at.iso8601)
      return .usage(
        LoggedUsage(
          key: key, at: at, model: model, provider: "openai", conversation: session, tool: "codex",
          input: input - cached, output: output, cacheRead: cached))
    default:
      return .other
    }
  }
}
