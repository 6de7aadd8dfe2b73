import JSON
import JSONRPC
import UsageCore

/// `tools/list` and `tools/call`: each tool runs a usage method in-process and answers with its result as
/// `structuredContent` (and as JSON text), or with `isError: true` and a message an agent can act on.
extension MCPServer {
  /// One row of `usage_report`.
  typealias ReportRow = (group: JSONData, total: Int64, changes: Int64, reset: Int64)

  /// The breakdown labels a tool takes as arguments of their own.
  static let labelArguments: Set<String> = ["model", "provider", "conversation"]

  func registerTools() {
    dispatcher.register("tools/list") { [unowned self] request, result throws(RPCError) in
      _ = try Params(request, allowed: ["cursor", "_meta"])
      result.beginObject()
      result.key("tools")
      result.beginArray()
      for tool in tools { tool.write(to: &result) }
      result.endArray()
      result.endObject()
    }
    // Answered when the usage method answers: a recorded change once it is committed.
    dispatcher.registerDeferred("tools/call") { [unowned self] request, reply throws(RPCError) in
      let tool: MCPTool
      let arguments: JSONValue?
      do throws(RPCError) {
        let params = try Params(request, allowed: ["name", "arguments", "_meta"])
        let name = try params.requiredString("name")
        guard let found = tools.first(where: { $0.name == name }) else {
          throw RPCError.invalidParams(
            field: "name", "is not a tool of this server (\(tools.map(\.name).joined(separator: ", ")))",
            value: .string(name))
        }
        tool = found
        arguments = params["arguments"]
      } catch {
        // Answered at once: the changes waiting for their commit are answered first, so answers keep their order.
        dispatcher.beforeAnsweringAtOnce?()
        throw error
      }
      call(tool, arguments: arguments, reply: reply)
    }
  }

  private func call(_ tool: MCPTool, arguments: JSONValue?, reply: PendingReply) {
    if let arguments, !arguments.isObject {
      dispatcher.beforeAnsweringAtOnce?()
      return fail(reply, "arguments must be an object with \(tool.arguments.joined(separator: ", ")).")
    }
    var unknown: String? = nil
    var hasLabels = false
    arguments?.forEachMember { key, _ in
      let name = String(decoding: key, as: UTF8.self)
      if unknown == nil && !tool.arguments.contains(name) { unknown = name }
      if Self.labelArguments.contains(name) { hasLabels = true }
    }
    if let unknown {
      dispatcher.beforeAnsweringAtOnce?()
      return fail(reply, "Unknown argument \(unknown): \(tool.name) takes \(tool.arguments.joined(separator: ", ")).")
    }
    switch tool.name {
    case "usage_check":
      callUsage("usage/check", arguments, hasLabels: hasLabels, reply: reply)
    case "usage_record":
      callUsage("usage/increment", arguments, hasLabels: hasLabels, reply: reply)
    case "usage_status":
      callUsage("usage/get", arguments, hasLabels: hasLabels, reply: reply)
    default:
      report(arguments, reply: reply)
    }
  }

  /// The usage method's params for a tool's arguments: the labels (`model`, …) gathered into `labels`, the rest as
  /// they are (the method checks them and names the offending one).
  func usageParams(_ arguments: JSONValue?) -> JSONWriter {
    var writer = JSONWriter(capacity: 256)
    writer.beginObject()
    var labels: [(String, JSONValue)] = []
    arguments?.forEachMember { key, value in
      let name = String(decoding: key, as: UTF8.self)
      if Self.labelArguments.contains(name) {
        labels.append((name, value))
      } else {
        writer.key(text: name); writer.value(value)
      }
    }
    if !labels.isEmpty {
      writer.key("labels")
      writer.beginObject()
      for (name, value) in labels {
        writer.key(text: name); writer.value(value)
      }
      writer.endObject()
    }
    writer.endObject()
    return writer
  }

  /// Runs `method` with the tool's arguments as params and answers the tool call with its result. Arguments without
  /// labels are the method's params as they are (no copy, no second parse; the method reads them before it returns,
  /// as it does a client's); labels are gathered into `labels` first (``usageParams(_:)``).
  private func callUsage(_ method: String, _ arguments: JSONValue?, hasLabels: Bool, reply: PendingReply) {
    let completion: (LocalCallResult) -> Void = { [unowned self] outcome in
      switch outcome {
      case .success(let bytes):
        dispatcher.resolve(reply) { writer in bytes.withUnsafeBytes { writer.toolResult(structured: $0) } }
      case .failure(let error):
        fail(reply, MCPToolMessage.describe(error, metrics: service.context.metricNames))
      }
    }
    guard hasLabels else { return dispatcher.callLocally(method, params: arguments, completion: completion) }
    local(method, usageParams(arguments), completion)
  }

  /// Runs the usage method `method` in-process with the params `params` wrote.
  func local(_ method: String, _ params: borrowing JSONWriter, _ completion: @escaping (LocalCallResult) -> Void) {
    let document: JSONDocument
    do {
      document = try params.withBytes { bytes in try JSONDocument.parse(bytes) }
    } catch {
      return completion(.failure(.internalError("\(error)")))
    }
    document.withRoot { root in dispatcher.callLocally(method, params: root, completion: completion) }
  }

  /// Answers a tool call with `isError: true` and `message`.
  func fail(_ reply: PendingReply, _ message: String) {
    dispatcher.resolve(reply) { writer in writer.toolError(message) }
  }

  /// The groupings `usage_report` offers (`usage/history` groups by any label; the tool names the useful ones).
  static let reportGroupings = ["day", "week", "month", "model", "provider", "conversation"]

  /// `usage_report`: `usage/history`, with the metric named beside the rows.
  private func report(_ arguments: JSONValue?, reply: PendingReply) {
    let grouping = arguments?["groupBy"]?.string ?? "day"
    guard Self.reportGroupings.contains(grouping) else {
      return fail(
        reply, "groupBy must be one of \(Self.reportGroupings.joined(separator: ", ")), not \"\(grouping)\".")
    }
    local("usage/history", usageParams(arguments)) { [unowned self] outcome in
      let history: JSONData
      switch outcome {
      case .failure(let error):
        return fail(reply, MCPToolMessage.describe(error, metrics: service.context.metricNames))
      case .success(let bytes):
        let text = String(decoding: bytes, as: UTF8.self)
        guard let parsed = try? JSONData(parsing: text) else {  // harmless: written by the writer just now
          return fail(reply, "The history could not be read back.")
        }
        history = parsed
      }
      let metric = arguments?["metric"]?.string ?? ""
      let rows: [ReportRow] = (history["rows"]?.array ?? []).map {
        ($0["group"] ?? .null, $0["total"]?.int ?? 0, $0["changes"]?.int ?? 0, $0["reset"]?.int ?? 0)
      }
      let result = JSONData.object([
        ("metric", .string(metric)), ("groupBy", .string(grouping)),
        (
          "rows",
          .array(
            rows.map { row in
              var members: [(String, JSONData)] = [
                ("group", row.group), ("total", .int(row.total)), ("changes", .int(row.changes)),
              ]
              if row.reset != 0 { members.append(("reset", .int(row.reset))) }
              return .object(members)
            })
        ),
      ])
      let text = Array(result.jsonText.utf8)
      dispatcher.resolve(reply) { writer in text.withUnsafeBytes { writer.toolResult(structured: $0) } }
    }
  }
}

extension JSONWriter {
  /// A `tools/call` result carrying `structured` (one JSON value) as `structuredContent` and as text.
  mutating func toolResult(structured: UnsafeRawBufferPointer) {
    beginObject()
    key("content")
    beginArray()
    beginObject()
    key("type"); string("text")
    key("text"); string(utf8: structured)
    endObject()
    endArray()
    key("structuredContent"); rawValue(structured)
    key("isError"); bool(false)
    endObject()
  }

  /// A `tools/call` result saying the tool failed, with `message`.
  mutating func toolError(_ message: String) {
    beginObject()
    key("content")
    beginArray()
    beginObject()
    key("type"); string("text")
    key("text"); string(text: message)
    endObject()
    endArray()
    key("isError"); bool(true)
    endObject()
  }
}
