import JSON
import JSONRPC
import Logging
import Testing
import UsageCore

@testable import UsageServer

/// The MCP face in-process: a dispatcher, the usage service over a memory ledger (answers waiting for the burst's
/// commit, as with a durable ledger, or given at once) and the MCP methods on top; each message is one burst.
@Suite("MCP face")
struct MCPServerTests {
  /// Documents (a count) and tokens (fields, a breakdown by model, a cost).
  struct Metrics: MetricPlugin {
    var info: PluginInfo { PluginInfo(name: "mcp-test", version: "1.0.0") }
    func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
      [
        MetricDefinition(
          descriptor: MetricDescriptor(
            name: "documents", unit: "documents", kind: .count, limits: TierLimits(free: 10, pro: nil, ultra: nil))),
        MetricDefinition(
          descriptor: MetricDescriptor(
            name: "tokens", unit: "tokens", kind: .tokens, limits: TierLimits(free: 1000, pro: nil, ultra: nil),
            period: .monthly, fields: ["input", "output"], breakdownLabel: "model", currency: "USD")),
      ]
    }
  }

  final class Session {
    let output = OutputChannel(fd: -1)
    let dispatcher: Dispatcher
    let service: UsageService
    let mcp: MCPServer

    init(waitsForCommit: Bool = true) throws {
      let logger = Logger(label: "test")
      let context = try UsageContext(plugins: [Metrics()], configuration: UsageConfiguration())
      dispatcher = Dispatcher(output: output, logger: logger)
      service = UsageService(
        context: context, dispatcher: dispatcher, ledger: MemoryLedger(), waitsForCommit: waitsForCommit,
        logger: logger)
      mcp = MCPServer(service: service, logger: logger)
    }

    /// Handles `lines` as one burst (then commits and tells subscribers, as the session does); returns what was
    /// written, one JSON value per message.
    func burst(_ lines: String...) throws -> [JSONData] {
      for line in lines {
        var line = line
        line.withUTF8 { _ = dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
      }
      service.commitChanges()
      mcp.sendUpdates()
      let text = String(decoding: output.writer.bytes, as: UTF8.self)
      output.writer.reset()
      return try text.split(separator: "\n").map { try JSONData(parsing: String($0)) }
    }

    func call(_ id: Int, _ tool: String, _ arguments: JSONData) -> String {
      JSONData.object([
        ("jsonrpc", "2.0"), ("id", .int(Int64(id))), ("method", "tools/call"),
        ("params", ["name": .string(tool), "arguments": arguments]),
      ]).jsonText
    }
  }

  @Test("the tools' schemas name the session's metrics and fields")
  func toolSchemas() throws {
    let session = try Session()
    let answer = try session.burst(#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
    let tools = try #require(answer.first?["result"]?["tools"]?.array)
    let record = try #require(tools.first { $0["name"] == "usage_record" })
    #expect(record["inputSchema"]?["properties"]?["metric"]?["enum"] == ["documents", "tokens"])
    #expect(record["inputSchema"]?["properties"]?["input"]?["type"] == "integer")
    #expect(record["inputSchema"]?["additionalProperties"] == false)
    #expect(record["annotations"]?["readOnlyHint"] == false)
    let check = try #require(tools.first { $0["name"] == "usage_check" })
    #expect(check["outputSchema"]?["required"]?.array?.contains("allowed") == true)
    #expect(check["annotations"]?["readOnlyHint"] == true)
  }

  @Test(
    "a recorded change is answered after the burst's commit, in order, with its crossing kept from the output",
    arguments: [true, false])
  func recordAnsweredInOrder(waitsForCommit: Bool) throws {
    let session = try Session(waitsForCommit: waitsForCommit)
    let answers = try session.burst(
      session.call(1, "usage_record", ["metric": "documents", "amount": 9]),
      session.call(2, "usage_check", ["metric": "documents", "amount": 1]),
      session.call(3, "usage_check", ["metric": "documents", "amount": 2]))
    // No usage/threshold: the MCP client never subscribed to usagectx's own notifications.
    #expect(answers.map { $0["id"] } == [1, 2, 3])
    #expect(answers[0]["result"]?["structuredContent"]?["used"] == 9)
    #expect(answers[0]["result"]?["structuredContent"]?["level"] == "warning")
    #expect(answers[1]["result"]?["structuredContent"]?["allowed"] == true)
    #expect(answers[2]["result"]?["structuredContent"]?["allowed"] == false)
  }

  @Test("tokens: input and output with the model and provider as labels; the report groups by provider")
  func tokens() throws {
    let session = try Session()
    let recorded = try session.burst(
      session.call(1, "usage_record", ["metric": "tokens", "input": 100, "output": 20, "model": "m1", "provider": "p"]))
    let state = try #require(recorded.first?["result"]?["structuredContent"])
    #expect(state["used"] == 120)
    #expect(state["input"] == 100)
    #expect(state["byModel"]?["m1"]?["used"] == 120)
    // Without a durable ledger there is no history: a tool error saying so.
    let report = try session.burst(session.call(2, "usage_report", ["metric": "tokens", "groupBy": "provider"]))
    #expect(report.first?["result"]?["isError"] == true)
    #expect(report.first?["result"]?["content"]?[0]?["text"]?.string?.contains("No history") == true)
  }

  @Test("tool failures read as instructions; an unknown tool is a protocol error")
  func failures() throws {
    let session = try Session()
    let answers = try session.burst(
      session.call(1, "usage_record", ["metric": "documents", "amount": 11, "enforce": true]),
      session.call(2, "usage_record", ["metric": "documents", "labels": ["a": "b"]]),
      session.call(3, "usage_record", ["metric": "documents", "model": 5]),
      #"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"usage_delete"}}"#)
    let texts = answers.prefix(3).map { $0["result"]?["content"]?[0]?["text"]?.string ?? "" }
    #expect(answers.prefix(3).allSatisfy { $0["result"]?["isError"] == true })
    #expect(texts[0].hasPrefix("Limit exceeded: documents has 0 of 10 used (10 remaining), and 11 more"))
    #expect(texts[1].hasPrefix("Unknown argument labels: usage_record takes metric, amount, input, output, model"))
    #expect(texts[2] == "Invalid argument model: must be a string.")
    #expect(answers[3]["error"]?["code"] == -32602)
    #expect(answers[3]["error"]?["data"]?["field"] == "name")
  }

  @Test("resource subscriptions are told once per burst, for their metrics only")
  func subscriptions() throws {
    let session = try Session()
    for (id, uri) in [(1, "usage://metrics/tokens"), (2, "usage://metrics")] {
      _ = try session.burst(
        #"{"jsonrpc":"2.0","id":\#(id),"method":"resources/subscribe","params":{"uri":"\#(uri)"}}"#)
    }
    let documents = try session.burst(
      session.call(3, "usage_record", ["metric": "documents"]),
      session.call(4, "usage_record", ["metric": "documents"]))
    let updates = documents.filter { $0["method"] == "notifications/resources/updated" }
    #expect(updates.map { $0["params"]?["uri"] } == ["usage://metrics"])
    let tokens = try session.burst(session.call(5, "usage_record", ["metric": "tokens", "input": 1]))
    let uris = Set(tokens.compactMap { $0["params"]?["uri"]?.string })
    #expect(uris == ["usage://metrics", "usage://metrics/tokens"])
    #expect(try session.burst().isEmpty)
  }

  @Test("resources: the list, the template, reads as JSON text, and -32002 for an unknown URI")
  func resources() throws {
    let session = try Session()
    let answers = try session.burst(
      #"{"jsonrpc":"2.0","id":1,"method":"resources/list"}"#,
      #"{"jsonrpc":"2.0","id":2,"method":"resources/templates/list"}"#,
      #"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"usage://metrics/documents"}}"#,
      #"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"usage://metrics/nope"}}"#)
    #expect(
      answers[0]["result"]?["resources"]?.array?.compactMap { $0["uri"]?.string }
        == ["usage://metrics", "usage://metrics/documents", "usage://metrics/tokens"])
    #expect(answers[1]["result"]?["resourceTemplates"]?[0]?["uriTemplate"] == "usage://metrics/{name}")
    let text = try #require(answers[2]["result"]?["contents"]?[0]?["text"]?.string)
    #expect(try JSONData(parsing: text)["limit"] == 10)
    #expect(answers[3]["error"]?["code"] == -32002)
    #expect(answers[3]["error"]?["data"]?["uri"] == "usage://metrics/nope")
  }

  @Test("notifications/cancelled gives up a tool call still waiting; one already answered is left alone")
  func cancellation() throws {
    let session = try Session()
    // Any message settles the changes waiting before it is handled, so a cancellation normally finds the call
    // answered: nothing more is written.
    var line = session.call(7, "usage_record", ["metric": "documents"])
    line.withUTF8 { _ = session.dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
    let answered = try session.burst(#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":7}}"#)
    #expect(answered.map { $0["id"] } == [7])
    #expect(answered.first?["result"]?["structuredContent"]?["used"] == 1)
    // A call still waiting (here: nothing settles it before the cancellation) is answered -32800 and never again.
    let settle = session.dispatcher.beforeAnsweringAtOnce
    session.dispatcher.beforeAnsweringAtOnce = nil
    line = session.call(8, "usage_record", ["metric": "documents"])
    line.withUTF8 { _ = session.dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
    line = #"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":8,"reason":"user"}}"#
    line.withUTF8 { _ = session.dispatcher.handleMessage(UnsafeRawBufferPointer($0)) }
    session.dispatcher.beforeAnsweringAtOnce = settle
    let cancelled = try session.burst()
    #expect(cancelled.map { $0["id"] } == [8])
    #expect(cancelled.first?["error"]?["code"] == -32800)
    #expect(session.dispatcher.outstandingCount == 0)
  }
}
