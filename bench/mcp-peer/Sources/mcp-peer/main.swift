import MCP

/// A minimal MCP server on the MCP Swift SDK: one tool, `usage_check`, answering from a counter held in memory with
/// the same structured result as usagectx's (`{metric, allowed, requested, used, limit, remaining, level}`), so the
/// benchmark compares the protocol paths, not the work behind them.
let limit: Int = 100_000
let used: Int = 0

let server = Server(
  name: "mcp-peer", version: "0.12.1-bench",
  capabilities: .init(tools: .init(listChanged: false)))

await server.withMethodHandler(ListTools.self) { _ in
  .init(tools: [
    Tool(
      name: "usage_check", description: "May this amount be spent?",
      inputSchema: .object([
        "type": "object",
        "properties": .object([
          "metric": .object(["type": "string"]),
          "amount": .object(["type": "integer"]),
        ]),
        "required": .array(["metric"]),
      ]))
  ])
}

await server.withMethodHandler(CallTool.self) { params in
  guard params.name == "usage_check" else {
    return .init(content: [.text("Unknown tool \(params.name)")], isError: true)
  }
  let metric = params.arguments?["metric"]?.stringValue ?? "tokens"
  let amount = params.arguments?["amount"]?.intValue ?? 1
  let remaining = limit - used
  let allowed = amount <= remaining
  let level = used >= limit ? "exceeded" : used * 5 >= limit * 4 ? "warning" : "ok"
  let structured: Value = .object([
    "metric": .string(metric), "allowed": .bool(allowed), "requested": .int(amount), "used": .int(used),
    "limit": .int(limit), "remaining": .int(remaining), "level": .string(level),
  ])
  let text =
    #"{"metric":"\#(metric)","allowed":\#(allowed),"requested":\#(amount),"used":\#(used),"limit":\#(limit),"remaining":\#(remaining),"level":"\#(level)"}"#
  return try .init(content: [.text(text)], structuredContent: structured, isError: false)
}

try await server.start(transport: StdioTransport())
await server.waitUntilCompleted()
