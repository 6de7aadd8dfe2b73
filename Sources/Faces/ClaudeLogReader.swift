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

  /// The members the fast path looks for, indexed as ``Member``.
  private static let scanner = LogLineScanner([
    .init(parent: LogLineScanner.root, name: "type"),
    .init(parent: LogLineScanner.root, name: "timestamp"),
    .init(parent: LogLineScanner.root, name: "requestId"),
    .init(parent: LogLineScanner.root, name: "uuid"),
    .init(parent: LogLineScanner.root, name: "sessionId"),
    .init(parent: LogLineScanner.root, name: "message"),
    .init(parent: Member.message, name: "id"),
    .init(parent: Member.message, name: "model"),
    .init(parent: Member.message, name: "usage"),
    .init(parent: Member.usage, name: "input_tokens"),
    .init(parent: Member.usage, name: "output_tokens"),
    .init(parent: Member.usage, name: "cache_creation_input_tokens"),
    .init(parent: Member.usage, name: "cache_read_input_tokens"),
  ])

  private enum Member {
    static let type = 0, timestamp = 1, requestId = 2, uuid = 3, sessionId = 4, message = 5, id = 6, model = 7,
      usage = 8, input = 9, output = 10, cacheWrite = 11, cacheRead = 12
    /// The strings the answer depends on.
    static let strings = [type, timestamp, requestId, uuid, sessionId, id, model]
  }

  /// Reads one line's bytes: by the scanner when it can, else by Jansson (the parsed tree only looked into).
  public func read(bytes: UnsafeRawBufferPointer) -> LogLine {
    if bytes.first == UInt8(ascii: "{"), let line = Self.scanner.scan(bytes, Self.fastRead) { return line }
    return parsed(bytes: bytes)
  }

  /// What the scanned members say, or `nil` when Jansson must read the line (not valid for sure, or an escaped
  /// string the answer depends on).
  private static func fastRead(_ bytes: UnsafeRawBufferPointer, _ values: UnsafeBufferPointer<LogLineScanner.Value>?)
    -> LogLine?
  {
    guard let values else { return nil }
    for member in Member.strings where values[member].needsJansson { return nil }
    guard values[Member.type].equals("assistant", in: bytes), values[Member.message].kind != .absent,
      values[Member.usage].kind == .object
    else {
      return .other
    }
    func count(_ member: Int) -> Int64? {
      let value = values[member]
      if value.kind == .absent || value.kind == .null { return 0 }
      guard let number = value.int64(in: bytes), number >= 0 else { return nil }
      return number
    }
    guard let input = count(Member.input), let output = count(Member.output), let cacheWrite = count(Member.cacheWrite),
      let cacheRead = count(Member.cacheRead), let at = LoggedUsage.moment(values[Member.timestamp].string(in: bytes))
    else {
      return .malformed
    }
    if values[Member.model].equals("<synthetic>", in: bytes) || input + output + cacheWrite + cacheRead == 0 {
      return .other
    }
    let key: String
    if values[Member.id].kind == .string, values[Member.requestId].kind == .string {
      key = LogLineScanner.Value.joined("claude:", values[Member.id], ":", values[Member.requestId], in: bytes)
    } else if values[Member.uuid].kind == .string {
      key = LogLineScanner.Value.joined("claude:", values[Member.uuid], "", nil, in: bytes)
    } else {
      return .malformed
    }
    return .usage(
      LoggedUsage(
        key: key, at: at, model: values[Member.model].string(in: bytes) ?? "unknown", provider: "anthropic",
        conversation: values[Member.sessionId].string(in: bytes), tool: "claude-code", input: input, output: output,
        cacheRead: cacheRead, cacheWrite: cacheWrite))
  }

  /// Reads one line's bytes with Jansson (tests compare it with the fast path); the parsed tree is only looked into,
  /// never copied.
  func parsed(bytes: UnsafeRawBufferPointer) -> LogLine {
    // An unreadable line is counted as malformed.
    guard let document = try? JSONDocument.parse(bytes) else { return .malformed }  // harmless: counted malformed
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
