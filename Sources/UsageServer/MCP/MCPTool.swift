import JSON

/// One tool the MCP face offers: its name, what it is for, the arguments it takes (JSON Schema) and the shape of its
/// `structuredContent` (JSON Schema), and the usage method it runs.
struct MCPTool {
  let name: String
  let title: String
  let description: String
  /// The argument names accepted; anything else is refused with a message naming the accepted ones.
  let arguments: [String]
  let inputSchema: JSONData
  let outputSchema: JSONData

  /// The four tools, their schemas naming the session's metrics (`metrics`) and the fields some metrics take
  /// (`fields`, such as tokens' `input` and `output`).
  static func catalog(metrics: [String], fields: [String]) -> [MCPTool] {
    let metric: JSONData = [
      "type": "string", "enum": .array(metrics.map { .string($0) }),
      "description": .string("The metric: \(metrics.joined(separator: ", "))."),
    ]
    let amount: JSONData = [
      "type": "integer", "minimum": 0,
      "description": "How much (default 1; for metrics counted by fields, the sum of the fields).",
    ]
    var fieldProperties: [(String, JSONData)] = []
    for field in fields {
      let title = field.prefix(1).uppercased() + field.dropFirst()
      fieldProperties.append(
        (field, ["type": "integer", "minimum": 0, "description": .string("\(title) tokens (tokens only).")]))
    }
    let labels: [(String, JSONData)] = [
      ("model", ["type": "string", "description": "The model used, e.g. gpt-4o or claude-sonnet-4-5 (tokens)."]),
      ("provider", ["type": "string", "description": "The provider, e.g. openai or anthropic (tokens)."]),
      ("conversation", ["type": "string", "description": "A conversation or task id to label the usage with."]),
    ]
    let level: JSONData = ["type": "string", "enum": ["ok", "warning", "exceeded"]]
    let optionalInteger: JSONData = ["type": ["integer", "null"]]
    let metricState: JSONData = [
      "type": "object",
      "properties": [
        "name": ["type": "string"], "kind": ["type": "string"], "unit": ["type": "string"],
        "used": ["type": "integer"], "limit": optionalInteger, "remaining": optionalInteger,
        "ratio": ["type": "number"], "level": level, "version": ["type": "integer"], "period": ["type": "string"],
        "cost": ["type": "number"], "currency": ["type": "string"],
      ],
      "required": ["name", "used", "limit", "remaining", "level"],
    ]
    return [
      MCPTool(
        name: "usage_check", title: "Check usage before spending",
        description: """
          Asks whether an amount may be spent now without passing the limit (for example 40000 tokens before an \
          expensive call). Changes nothing. Proceed only when allowed is true; otherwise tell the user how much \
          remains.
          """,
        arguments: ["metric", "amount"] + fields + ["model"],
        inputSchema: .object([
          ("type", "object"),
          ("properties", .object([("metric", metric), ("amount", amount)] + fieldProperties + [labels[0]])),
          ("required", ["metric"]), ("additionalProperties", false),
        ]),
        outputSchema: [
          "type": "object",
          "properties": [
            "metric": ["type": "string"], "allowed": ["type": "boolean"], "requested": ["type": "integer"],
            "used": ["type": "integer"], "limit": optionalInteger, "remaining": optionalInteger, "level": level,
          ],
          "required": ["metric", "allowed", "requested", "used", "limit", "remaining", "level"],
        ]),
      MCPTool(
        name: "usage_record", title: "Record usage",
        description: """
          Records what was used: an amount of a metric, or for tokens the input and output tokens with the model \
          and provider (the cost is computed from the price table). Pass a key (unique per action) so that a retry \
          is counted once; with enforce: true a change that would pass the limit is refused and nothing is recorded.
          """,
        arguments: ["metric", "amount"] + fields + ["model", "provider", "conversation", "key", "enforce"],
        inputSchema: .object(
          [
            ("type", "object"),
            (
              "properties",
              .object(
                [("metric", metric), ("amount", amount)] + fieldProperties + labels + [
                  (
                    "key",
                    [
                      "type": "string", "minLength": 1, "maxLength": 255,
                      "description": "Idempotency key: the same key is recorded once, its answer repeated.",
                    ]
                  ),
                  ("enforce", ["type": "boolean", "description": "Refuse (and record nothing) past the limit."]),
                ])
            ),
            ("required", ["metric"]), ("additionalProperties", false),
          ]),
        outputSchema: metricState),
      MCPTool(
        name: "usage_report", title: "Usage history",
        description: """
          Sums the recorded usage of a metric per UTC day, month, model or provider, from the durable ledger \
          (every process on the state directory). since is inclusive, until exclusive (UTC dates or times).
          """,
        arguments: ["metric", "since", "until", "groupBy"],
        inputSchema: [
          "type": "object",
          "properties": [
            "metric": metric,
            "since": ["type": "string", "description": "First UTC date or time, e.g. 2026-11-01."],
            "until": ["type": "string", "description": "UTC date or time to stop before, e.g. 2026-12-01."],
            "groupBy": [
              "type": "string", "enum": .array(MCPServer.reportGroupings.map { .string($0) }), "default": "day",
            ],
          ],
          "required": ["metric"], "additionalProperties": false,
        ],
        outputSchema: [
          "type": "object",
          "properties": [
            "metric": ["type": "string"], "groupBy": ["type": "string"],
            "rows": [
              "type": "array",
              "items": [
                "type": "object",
                "properties": [
                  "group": ["type": ["string", "null"]], "total": ["type": "integer"],
                  "changes": ["type": "integer"], "reset": ["type": "integer"],
                ],
                "required": ["group", "total", "changes"],
              ],
            ],
          ],
          "required": ["metric", "groupBy", "rows"],
        ]),
      MCPTool(
        name: "usage_status", title: "Usage status",
        description: """
          The current usage of every metric (or of those named): used, limit, remaining, level (ok, warning at \
          80 %, exceeded) and the period, with tokens' cost and per-model breakdown.
          """,
        arguments: ["metrics"],
        inputSchema: [
          "type": "object",
          "properties": ["metrics": ["type": "array", "items": metric, "description": "Only these metrics."]],
          "additionalProperties": false,
        ],
        outputSchema: [
          "type": "object",
          "properties": [
            "version": ["type": "integer"], "tier": ["type": "string"],
            "metrics": ["type": "object", "additionalProperties": metricState],
          ],
          "required": ["version", "tier", "metrics"],
        ]),
    ]
  }

  /// Writes the tool as `tools/list` lists it.
  func write(to writer: inout JSONWriter) {
    writer.beginObject()
    writer.key("name"); writer.string(text: name)
    writer.key("title"); writer.string(text: title)
    writer.key("description"); writer.string(text: description)
    writer.key("inputSchema"); writer.value(inputSchema)
    writer.key("outputSchema"); writer.value(outputSchema)
    writer.key("annotations")
    writer.beginObject()
    writer.key("title"); writer.string(text: title)
    writer.key("readOnlyHint"); writer.bool(name != "usage_record")
    writer.key("idempotentHint"); writer.bool(name != "usage_record")
    writer.key("openWorldHint"); writer.bool(false)
    writer.endObject()
    writer.endObject()
  }
}
