public import JSONRPC
public import Logging
import JSON
import UsageCore

/// The Model Context Protocol face of a session (`usagectx mcp`): tools and resources over the same usage service,
/// served by the same JSON-RPC engine (newline-delimited, protocol revision 2025-06-18).
///
/// Tools run the usage methods in-process through the dispatcher (``Dispatcher/callLocally(_:params:completion:)``),
/// so a recorded change takes the path of a client's `usage/increment`: decided in the burst's transaction and
/// answered once committed. Resources read the context; their subscribers hear `notifications/resources/updated`
/// at the end of a burst in which their metrics changed (one per resource and burst, however many changes), changes
/// made by other processes on the same state directory included. Runs on the session's loop thread.
public final class MCPServer {
  /// The protocol revision spoken, and the older ones a client may ask for instead.
  static let protocolVersion = "2025-06-18"
  static let olderProtocolVersions: Set<String> = ["2025-03-26", "2024-11-05"]

  let service: UsageService
  let dispatcher: Dispatcher
  let logger: Logger
  /// The tools, named after the session's metrics.
  private(set) var tools: [MCPTool] = []
  var subscriptions = MCPResourceSubscriptions()
  /// What `initialize` tells the agent about using the tools.
  static let instructions = """
    usagectx holds the user's usage context: documents, storage, requests and LLM tokens with their cost, each with \
    a limit per plan tier (warning at 80 %, exceeded at 100 %). Before an expensive action call usage_check (for \
    example metric tokens, amount 40000) and go on only when allowed is true. After it, record what was used with \
    usage_record (tokens: input and output with the model; give a key unique to the action so a retry counts once; \
    enforce: true refuses a change past the limit). usage_status shows every metric, usage_report the history by \
    day, week, month, model, provider or conversation. Resources: usage://metrics (all metrics) and \
    usage://metrics/{name}; subscribe to hear when they change.
    """

  /// Registers the MCP methods on the service's dispatcher; `initialize` replaces the usage protocol's.
  public init(service: UsageService, logger: Logger) {
    self.service = service
    self.dispatcher = service.dispatcher
    self.logger = logger
    refreshTools()
    registerLifecycle()
    registerTools()
    registerResources()
  }

  /// Rebuilds the tools' schemas from the session's metrics and their fields.
  func refreshTools() {
    let context = service.context
    var fields: [String] = []
    for index in context.metricNames.indices {
      for field in context.descriptor(at: index).fields where !fields.contains(field) { fields.append(field) }
    }
    tools = MCPTool.catalog(metrics: context.metricNames, fields: fields)
  }

  private func registerLifecycle() {
    dispatcher.register("initialize") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: [], alsoAllowed: { _ in true })
      let requested = try params.string("protocolVersion")
      if let info = params["clientInfo"], info.isObject {
        logger.info("MCP client: \(info["name"]?.string ?? "unnamed") \(info["version"]?.string ?? "")")
      }
      let version = requested.flatMap { Self.olderProtocolVersions.contains($0) ? $0 : nil } ?? Self.protocolVersion
      result.beginObject()
      result.key("protocolVersion"); result.string(text: version)
      result.key("capabilities")
      result.beginObject()
      result.key("tools")
      result.beginObject()
      result.key("listChanged"); result.bool(false)
      result.endObject()
      result.key("resources")
      result.beginObject()
      result.key("subscribe"); result.bool(true)
      result.key("listChanged"); result.bool(true)
      result.endObject()
      result.endObject()
      result.key("serverInfo")
      result.beginObject()
      result.key("name"); result.string(text: ServerInfo.name)
      result.key("title"); result.string("usagectx usage context")
      result.key("version"); result.string(text: ServerInfo.version)
      result.endObject()
      result.key("instructions"); result.string(text: Self.instructions)
      result.endObject()
    }
    dispatcher.registerNotification("notifications/initialized") { _ in }
    // A request still waiting (a tool whose change waits for its commit) is given up; answered -32800 if at all.
    dispatcher.registerNotification("notifications/cancelled") { [unowned self] params in
      guard let id = params?["requestId"], id.isString || id.isNumber else { return }
      let cancel = JSONData.object([("id", JSONData(id))])
      guard let document = try? JSONDocument.parse(cancel.jsonText) else { return }  // harmless: written just above
      document.withRoot { root in _ = dispatcher.notifyLocally("$/cancelRequest", params: root) }
    }
  }

  /// Tells each resource subscriber whose metrics changed since it was last told (end of a burst).
  public func sendUpdates() {
    guard !subscriptions.isEmpty else { return }
    let context = service.context
    for position in subscriptions.entries.indices {
      let entry = subscriptions.entries[position]
      let (version, changed) = context.changes(since: entry.seenVersion, among: entry.metrics)
      guard !changed.isEmpty else { continue }
      subscriptions.markSeen(position, version: version)
      dispatcher.output.notify("notifications/resources/updated") { writer in
        writer.beginObject()
        writer.key("uri"); writer.string(text: entry.uri)
        writer.endObject()
      }
    }
  }
}
