import JSON
import JSONRPC
import UsageCore

/// Resources: `usage://metrics` (the snapshot of every metric) and `usage://metrics/{name}` (one metric's state),
/// as JSON; subscriptions to them are told of changes by ``MCPServer/sendUpdates()``.
extension MCPServer {
  static let snapshotURI = "usage://metrics"
  static let metricURIPrefix = "usage://metrics/"
  /// MCP's "resource not found".
  static let resourceNotFound = RPCErrorCode(rawValue: -32002)

  func registerResources() {
    dispatcher.register("resources/list") { [unowned self] request, result throws(RPCError) in
      _ = try Params(request, allowed: ["cursor", "_meta"])
      result.beginObject()
      result.key("resources")
      result.beginArray()
      writeResource(
        uri: Self.snapshotURI, name: "metrics", title: "All metrics",
        description: "Used, limit, remaining and level of every metric, with the plan tier.", into: &result)
      for name in service.context.metricNames {
        writeResource(
          uri: Self.metricURIPrefix + name, name: name, title: "Usage of \(name)",
          description: "The state of \(name): used, limit, remaining, level, period.", into: &result)
      }
      result.endArray()
      result.endObject()
    }
    dispatcher.register("resources/templates/list") { request, result throws(RPCError) in
      _ = try Params(request, allowed: ["cursor", "_meta"])
      result.beginObject()
      result.key("resourceTemplates")
      result.beginArray()
      result.beginObject()
      result.key("uriTemplate"); result.string("usage://metrics/{name}")
      result.key("name"); result.string("metric")
      result.key("title"); result.string("Usage of one metric")
      result.key("description"); result.string("The state of one metric (documents, storage, requests, tokens, ...).")
      result.key("mimeType"); result.string("application/json")
      result.endObject()
      result.endArray()
      result.endObject()
    }
    dispatcher.register("resources/read") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["uri", "_meta"])
      let uri = try params.requiredString("uri")
      let metrics = try resourceMetrics(uri)
      let context = service.context
      var contents = JSONWriter(capacity: 1024)
      if let metrics {
        contents.metricState(context.snapshot(metrics).metrics[0])
      } else {
        contents.snapshot(context.snapshot())
      }
      result.beginObject()
      result.key("contents")
      result.beginArray()
      result.beginObject()
      result.key("uri"); result.string(text: uri)
      result.key("mimeType"); result.string("application/json")
      result.key("text")
      contents.withBytes { result.string(utf8: $0) }
      result.endObject()
      result.endArray()
      result.endObject()
    }
    dispatcher.register("resources/subscribe") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["uri", "_meta"])
      let uri = try params.requiredString("uri")
      let metrics = try resourceMetrics(uri)
      subscriptions.add(uri: uri, metrics: metrics, seenVersion: service.context.snapshot(metrics).version)
      result.beginObject()
      result.endObject()
    }
    dispatcher.register("resources/unsubscribe") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["uri", "_meta"])
      subscriptions.remove(uri: try params.requiredString("uri"))
      result.beginObject()
      result.endObject()
    }
  }

  /// The metrics a resource URI covers: `nil` for all (`usage://metrics`), one for `usage://metrics/{name}`;
  /// `-32002` for anything else.
  func resourceMetrics(_ uri: String) throws(RPCError) -> [Int]? {
    if uri == Self.snapshotURI { return nil }
    if uri.hasPrefix(Self.metricURIPrefix),
      let index = service.context.index(ofMetric: String(uri.dropFirst(Self.metricURIPrefix.count)))
    {
      return [index]
    }
    let known = [Self.snapshotURI] + service.context.metricNames.map { Self.metricURIPrefix + $0 }
    throw RPCError(
      Self.resourceNotFound, "Resource not found",
      data: .object([("uri", .string(uri)), ("known", .array(known.map { .string($0) }))]))
  }

  private func writeResource(
    uri: String, name: String, title: String, description: String, into writer: inout JSONWriter
  ) {
    writer.beginObject()
    writer.key("uri"); writer.string(text: uri)
    writer.key("name"); writer.string(text: name)
    writer.key("title"); writer.string(text: title)
    writer.key("description"); writer.string(text: description)
    writer.key("mimeType"); writer.string("application/json")
    writer.endObject()
  }
}
