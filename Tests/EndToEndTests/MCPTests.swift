import Foundation
import JSON
import Testing

/// `usagectx mcp`: the official Python MCP SDK client drives every tool and resource (with a change made by another
/// process reaching a resource subscription), and raw pipes check the protocol's details through the binary.
@Suite("MCP server")
struct MCPTests {
  static let sdkAvailable = ExternalTool.works("python3", ["-c", "import mcp.client.stdio"])

  /// An `usagectx mcp` process on a fresh state directory (or none, with `durable: false`), initialized.
  static func server(durable: Bool = true) throws -> (SidecarProcess, String) {
    let state = DurabilityTests.stateDirectory()
    let server = try SidecarProcess(arguments: ["mcp"] + (durable ? ["--state", state] : ["--no-state"]))
    let initialize = try server.call(
      "initialize",
      ["protocolVersion": "2025-06-18", "capabilities": [:], "clientInfo": ["name": "tests", "version": "1"]])
    #expect(initialize["protocolVersion"] == "2025-06-18")
    try server.notify("notifications/initialized")
    return (server, state)
  }

  static func toolCall(_ name: String, _ arguments: JSONData, id: Int64) -> String {
    JSONData.object([
      ("jsonrpc", "2.0"), ("id", .int(id)), ("method", "tools/call"),
      ("params", ["name": .string(name), "arguments": arguments]),
    ]).jsonText + "\n"
  }

  @Test(
    "the Python MCP SDK lists and calls every tool, reads and subscribes to resources, hears another process's change",
    .enabled(if: sdkAvailable, "the Python mcp package is not installed (scripts/bootstrap-editors installs it)"))
  func pythonSDK() throws {
    let state = DurabilityTests.stateDirectory()
    let run = try ExternalTool.run(
      "python3", ["Tests/Fixtures/mcp/sdk_client.py", SidecarProcess.binaryPath, state], timeout: 180)
    #expect(run.status == 0, "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)")
    #expect(run.stdout.contains("MCP SDK OK"), "stdout:\n\(run.stdout)\nstderr:\n\(run.stderr)")
  }

  @Test("initialize announces the server, tools and resources with subscriptions, and instructions")
  func handshake() throws {
    let state = DurabilityTests.stateDirectory()
    let server = try SidecarProcess(arguments: ["mcp", "--state", state])
    let result = try server.call(
      "initialize",
      ["protocolVersion": "2025-11-25", "capabilities": [:], "clientInfo": ["name": "t", "version": "1"]])
    // A revision it does not speak is answered with the one it does.
    #expect(result["protocolVersion"] == "2025-06-18")
    #expect(result["serverInfo"]?["name"] == "usagectx")
    #expect(result["capabilities"]?["resources"]?["subscribe"] == true)
    #expect(result["capabilities"]?["resources"]?["listChanged"] == true)
    #expect(result["capabilities"]?["tools"] != nil)
    #expect(result["instructions"]?.string?.contains("usage_check") == true)
    try server.notify("notifications/initialized")
    #expect(try server.call("ping") == [:])
    let tools = try #require(try server.call("tools/list")["tools"]?.array)
    #expect(tools.compactMap { $0["name"]?.string } == ["usage_check", "usage_record", "usage_report", "usage_status"])
    for tool in tools {
      #expect(tool["inputSchema"]?["type"] == "object")
      #expect(tool["outputSchema"]?["type"] == "object")
    }
    let older = try SidecarProcess(arguments: ["mcp", "--no-state"])
    #expect(try older.call("initialize", ["protocolVersion": "2025-03-26"])["protocolVersion"] == "2025-03-26")
  }

  @Test("a tool's change is committed before its answer, and a request after it in the same burst sees it")
  func recordThenRead() throws {
    let (server, state) = try Self.server()
    try server.sendRaw(
      Self.toolCall("usage_record", ["metric": "documents", "amount": 3, "key": "k-1"], id: 2)
        + #"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"usage://metrics/documents"}}"# + "\n"
        + Self.toolCall("usage_check", ["metric": "documents", "amount": 97], id: 4)
        + Self.toolCall("usage_check", ["metric": "documents", "amount": 98], id: 5))
    let record = try server.nextResponse()
    #expect(record["id"] == 2)
    #expect(record["result"]?["isError"] == false)
    #expect(record["result"]?["structuredContent"]?["used"] == 3)
    let text = try #require(record["result"]?["content"]?[0]?["text"]?.string)
    #expect(try JSONData(parsing: text)["used"] == 3)
    let read = try server.nextResponse()
    #expect(read["id"] == 3)
    let contents = try #require(read["result"]?["contents"]?[0])
    #expect(contents["mimeType"] == "application/json")
    #expect(try JSONData(parsing: try #require(contents["text"]?.string))["used"] == 3)
    #expect(try server.nextResponse()["result"]?["structuredContent"]?["allowed"] == true)
    #expect(try server.nextResponse()["result"]?["structuredContent"]?["allowed"] == false)
    // Committed: a usagectx call on the same state directory sees it.
    let seen = try OneShotCommand.run(["call", "usage/get", #"{"metrics":["documents"]}"#, "--state", state])
    #expect(try JSONData(parsing: seen.stdout)["metrics"]?["documents"]?["used"] == 3)
  }

  @Test("tool failures are isError results an agent can act on; protocol errors are JSON-RPC errors; goes on")
  func errors() throws {
    let (server, _) = try Self.server(durable: false)
    func toolError(_ name: String, _ arguments: JSONData) throws -> String {
      try server.sendRaw(Self.toolCall(name, arguments, id: 9))
      let answer = try server.nextResponse()
      #expect(answer["result"]?["isError"] == true, "\(answer.jsonText)")
      return answer["result"]?["content"]?[0]?["text"]?.string ?? ""
    }
    #expect(try toolError("usage_check", ["metric": "nope"]).contains("use one of documents"))
    #expect(try toolError("usage_record", ["metric": "tokens", "input": "many"]).contains("input"))
    #expect(try toolError("usage_record", ["metric": "requests", "amount": 1.5]).contains("amount"))
    #expect(try toolError("usage_status", ["metric": "requests"]).contains("Unknown argument metric"))
    let refused = try toolError("usage_record", ["metric": "requests", "amount": 101, "enforce": true])
    #expect(refused.contains("Limit exceeded"))
    #expect(try toolError("usage_report", ["metric": "requests"]).contains("No history"))
    #expect(try toolError("usage_report", ["metric": "requests", "groupBy": "fortnight"]).contains("groupBy"))
    #expect(try toolError("usage_check", []).contains("arguments must be an object"))

    #expect(try server.request("tools/call", ["name": "usage_nothing"])["error"]?["code"] == -32602)
    #expect(try server.request("tools/call", ["arguments": [:]])["error"]?["data"]?["field"] == "name")
    let unknown = try server.request("resources/read", ["uri": "usage://elsewhere"])
    #expect(unknown["error"]?["code"] == -32002)
    #expect(try server.request("resources/subscribe", ["uri": "usage://metrics/nope"])["error"]?["code"] == -32002)
    #expect(try server.request("prompts/list")["error"]?["code"] == -32601)
    try server.sendRaw("{not json\n")
    #expect(try server.nextResponse()["error"]?["code"] == -32700)
    // A cancellation of a request that is not waiting is ignored.
    try server.notify("notifications/cancelled", ["requestId": 12345, "reason": "changed my mind"])
    #expect(try server.call("ping") == [:])
    let status = try server.call("tools/call", ["name": "usage_status", "arguments": ["metrics": ["requests"]]])
    #expect(status["structuredContent"]?["metrics"]?["requests"]?["used"] == 0)
  }

  @Test("resource subscriptions: one update per burst however many changes, only for the metrics subscribed")
  func coalescedUpdates() throws {
    let (server, _) = try Self.server()
    #expect(try server.call("resources/subscribe", ["uri": "usage://metrics/documents"]) == [:])
    #expect(try server.call("resources/subscribe", ["uri": "usage://metrics/documents"]) == [:])
    var burst = ""
    for id in 0..<50 { burst += Self.toolCall("usage_record", ["metric": "documents"], id: Int64(100 + id)) }
    burst += Self.toolCall("usage_record", ["metric": "requests"], id: 200)
    try server.sendRaw(burst)
    var last: JSONData = nil
    for _ in 0...50 { last = try server.nextResponse() }
    #expect(last["result"]?["structuredContent"]?["name"] == "requests")
    #expect(try server.call("ping") == [:])
    let updates = server.takeNotifications()
    #expect(!updates.isEmpty)
    #expect(updates.count < 50)
    #expect(updates.allSatisfy { $0["method"] == "notifications/resources/updated" })
    #expect(updates.allSatisfy { $0["params"]?["uri"] == "usage://metrics/documents" })
    // After unsubscribing, nothing more is told.
    #expect(try server.call("resources/unsubscribe", ["uri": "usage://metrics/documents"]) == [:])
    try server.sendRaw(Self.toolCall("usage_record", ["metric": "documents"], id: 300))
    _ = try server.nextResponse()
    #expect(try server.call("ping") == [:])
    #expect(server.takeNotifications().isEmpty)
  }

  @Test("a subscription to usage://metrics hears a change made by another process on the same state directory")
  func otherProcess() throws {
    let (server, state) = try Self.server()
    #expect(try server.call("resources/subscribe", ["uri": "usage://metrics"]) == [:])
    let call = try OneShotCommand.run(
      ["call", "usage/increment", #"{"metric":"requests","amount":4}"#, "--state", state])
    #expect(call.status == 0)
    let update = try server.nextMessage(timeout: 30)
    #expect(update["method"] == "notifications/resources/updated")
    #expect(update["params"]?["uri"] == "usage://metrics")
    let read = try server.call("resources/read", ["uri": "usage://metrics"])
    let snapshot = try JSONData(parsing: try #require(read["contents"]?[0]?["text"]?.string))
    #expect(snapshot["metrics"]?["requests"]?["used"] == 4)
  }

  @Test("stdout carries only JSON-RPC messages; end of input ends the server with exit code 0")
  func stdoutHygiene() throws {
    let (server, _) = try Self.server()
    try server.sendRaw(
      Self.toolCall("usage_record", ["metric": "tokens", "input": 10, "output": 5, "model": "gpt-4o"], id: 2))
    server.closeInput()
    let messages = try server.readToEnd()
    #expect(messages.count == 1)
    #expect(messages.allSatisfy { $0["jsonrpc"] == "2.0" })
    #expect(try server.waitForExit() == 0)
  }
}
