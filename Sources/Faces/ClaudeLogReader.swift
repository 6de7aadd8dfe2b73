public import JSON
import UsageCore

/// Claude Code's session logs (`~/.claude/projects/<project>/<session>.jsonl`): each assistant line carries
/// `message.usage` (input, output, cache-creation and cache-read input tokens), `message.model`, `message.id`,
/// `requestId`, `sessionId` and `timestamp`. A call's lines repeat with the same message and request ids as its
/// content streams in, so the key (both ids) counts it once.
public struct ClaudeLogReader: Sendable {
  public init() {}

  public func read(_ line: String) -> LogLine {
    guard let entry = try? JSONData(parsing: line) else { return .malformed }  // harmless: an unreadable line is counted as malformed
    guard entry["type"]?.string == "assistant", let message = entry["message"], let usage = message["usage"],
      usage != .null
    else {
      return entry.objectMembers == nil ? .malformed : .other
    }
    func count(_ name: String) -> Int64? {
      guard let value = usage[name] else { return 0 }
      if value == .null { return 0 }
      guard let number = value.int, number >= 0 else { return nil }
      return number
    }
    guard let input = count("input_tokens"), let output = count("output_tokens"),
      let cacheWrite = count("cache_creation_input_tokens"), let cacheRead = count("cache_read_input_tokens"),
      let at = LoggedUsage.moment(entry["timestamp"]?.string)
    else {
      return .malformed
    }
    let model = message["model"]?.string ?? "unknown"
    // Synthetic lines (errors Claude Code writes itself) used no model.
    if model == "<synthetic>" || input + output + cacheWrite + cacheRead == 0 { return .other }
    let key: String
    if let id = message["id"]?.string, let request = entry["requestId"]?.string {
      key = "claude:\(id):\(request)"
    } else if let uuid = entry["uuid"]?.string {
      key = "claude:\(uuid)"
    } else {
      return .malformed
    }
    return .usage(
      LoggedUsage(
        key: key, at: at, model: model, provider: "anthropic", conversation: entry["sessionId"]?.string,
        tool: "claude-code", input: input, output: output, cacheRead: cacheRead, cacheWrite: cacheWrite))
  }
}
