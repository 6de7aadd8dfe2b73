import Faces
import Testing
import UsageCore

/// Reading single lines of Claude Code and Codex CLI logs.
@Suite("Log readers")
struct LogReaderTests {
  @Test("claude: an assistant line's usage, keyed by message and request ids; other lines and bad ones told apart")
  func claude() {
    let reader = ClaudeLogReader()
    let line =
      #"{"type":"assistant","sessionId":"s","timestamp":"2025-11-20T10:00:01.5Z","requestId":"r","message":{"id":"m","model":"claude-opus-4-5","usage":{"input_tokens":3,"output_tokens":4,"cache_creation_input_tokens":5,"cache_read_input_tokens":6}}}"#
    guard case .usage(let usage) = reader.read(line) else {
      Issue.record("no usage")
      return
    }
    #expect(usage.key == "claude:m:r")
    #expect([usage.input, usage.output, usage.cacheWrite, usage.cacheRead] == [3, 4, 5, 6])
    #expect(usage.at == Timestamp(iso8601: "2025-11-20T10:00:01.500Z"))
    #expect(
      usage.labels == ["model": "claude-opus-4-5", "provider": "anthropic", "conversation": "s", "tool": "claude-code"])
    #expect(reader.read(#"{"type":"user","message":{"content":"x"}}"#) == .other)
    #expect(reader.read("[1,2") == .malformed)
    #expect(reader.read("42") == .malformed)
    #expect(
      reader.read(
        #"{"type":"assistant","timestamp":"2025-11-20T10:00:01Z","requestId":"r","message":{"id":"m","usage":{"input_tokens":"3"}}}"#
      )
        == .malformed)
  }

  @Test("codex: session and model from earlier lines; input without the cached part")
  func codex() {
    var reader = CodexLogReader(fileName: "/x/rollout-1.jsonl")
    #expect(reader.session == "rollout-1")
    #expect(reader.read(#"{"type":"turn_context","payload":{"model":"gpt-5-codex"}}"#) == .other)
    let event =
      #"{"timestamp":"2025-11-20T08:00:03.123456Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"total_tokens":99},"last_token_usage":{"input_tokens":10,"cached_input_tokens":4,"output_tokens":2}}}}"#
    guard case .usage(let usage) = reader.read(event) else {
      Issue.record("no usage")
      return
    }
    #expect(usage.key == "codex:rollout-1:99")
    #expect([usage.input, usage.cacheRead, usage.output] == [6, 4, 2])
    #expect(usage.model == "gpt-5-codex")
    #expect(usage.at == Timestamp(iso8601: "2025-11-20T08:00:03.123Z"))
  }
}
