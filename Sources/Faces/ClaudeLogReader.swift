import JSON
import UsageCore

/// Claude Code's session logs (`~/.claude/projects/<project>/<session>.jsonl`): each assistant line carries
/// `message.usage` (input, output, cache-creation and cache-read input tokens), `message.model`, `message.id`,
/// `requestId`, `sessionId` and `timestamp`. A call's lines repeat with the same message and request ids as its
/// content streams in, so the key (both ids) counts it once.
public struct ClaudeLogReader: Sendable {
  public init() {}

  public func read(_ line: String) -> LogLine {
    var line = line
    return line.withUTF8 { read(bytes: UnsafeRawBufferPointer($0)) }
  }

  /// Reads one line's bytes; the parsed tree is only looked into, never copied.
  public func read(bytes: UnsafeRawBufferPointer) -> LogLine {
    guard let document = try? JSONDocument.parse(bytes) else { return .malformed }  // harmless: an unreadable line is counted as malformed
    return document.withRoot { entry in
      guard entry.isObject else { return .malformed }
      guard entry["type"]?.stringEquals("assistant") == true, let message = entry["message"],
        let usage = message["usage"], usage.isObject
      else {
        return .other
      }
      func count(_ name: StaticString) -> Int64? {
        guard let value = usage[name], !value.isNull else { return 0 }
        guard let number = value.int64, number >= 0 else { return nil }
        return number
      }
      guard let input = count("input_tokens"), let output = count("output_tokens"),
        let cacheWrite = count("cache_creation_input_tokens"), let cacheRead = count("cache_read_input_tokens"),
        let at = LoggedUsage.moment(entry["timestamp"]?.string)
      else {
        return .malformed
      }
      // Synthetic lines (errors Claude Code writes itself) used no model.
      if message["model"]?.stringEquals("<synthetic>") == true || input + output + cacheWrite + cacheRead == 0 {
        return .other
      }
      let key: String
      if let id = message["id"]?.string, let request = entry["requestId"]?.string {
        key = "claude:" + id + ":" + request
      } else if let uuid = entry["uuid"]?.string {
        key = "claude:" + uuid
      } else {
        return .malformed
      }
      return .usage(
        LoggedUsage(
          key: key, at: at, model: message["model"]?.string ?? "unknown", provider: "anthropic",
          conversation: entry["sessionId"]?.string, tool: "claude-code", input: input, output: output,
          cacheRead: cacheRead, cacheWrite: cacheWrite))
    }
  }
}
