import JSON
import JSONRPC
import Logging
import UsageCore

/// `initialize`: the client's process, configuration and tier; what this session serves.
extension UsageService {
  /// `initialize {processId?, clientInfo?, tier?, config?}`: applies the configuration and tier, watches the client's
  /// process, and answers with the server's capabilities and a snapshot.
  func initialize(_ request: RequestContext, _ result: inout JSONWriter) throws(RPCError) {
    guard !initialized else {
      throw RPCError.invalidRequest("alreadyInitialized", detail: "initialize may be sent only once")
    }
    // Like LSP, members initialize does not use (rootUri, capabilities, protocolVersion, ...) are ignored, so any
    // LSP- or MCP-style client can start a session.
    let params = try Params(request, allowed: [], alsoAllowed: { _ in true })
    if let pid = params["processId"] {
      guard let number = pid.int64, number > 0, number <= Int64(Int32.max) else {
        throw RPCError.invalidParams(
          field: "processId", "must be a positive process id or null", value: Params.shown(pid))
      }
      watchProcess?(Int32(number))
    }
    if let info = params["clientInfo"] {
      guard info.isObject else { throw RPCError.invalidParams(field: "clientInfo", "must be an object") }
      logger.info("client: \(info["name"]?.string ?? "unnamed") \(info["version"]?.string ?? "")")
    }
    var configuration = context.configuration
    if let overrides = params["config"] {
      do throws(UsageError) {
        try configuration.merge(ConfigValue(overrides))
      } catch {
        throw RPCError(error)
      }
    }
    if params["tier"] != nil { configuration.tier = try tierParam(params) }
    var crossings: [ThresholdCrossing] = []
    if configuration != context.configuration {
      do throws(UsageError) {
        let policies = try RefreshSettings.policies(configuration, metrics: context.metricNames)
        crossings = try context.reconfigure(configuration)
        synchronizer?.setPolicies(policies)
        // The sources may have changed with their options: the answer shows what the local ones say now; those in
        // other processes follow.
        synchronizer?.readAfterReconfiguration()
      } catch {
        throw RPCError(error)
      }
      refreshFieldNames()
    }
    initialized = true
    crossings.forEach(announce)
    result.beginObject()
    result.key("serverInfo")
    result.beginObject()
    result.key("name"); result.string(text: ServerInfo.name)
    result.key("version"); result.string(text: ServerInfo.version)
    result.endObject()
    result.key("protocolVersion"); result.string(text: ServerInfo.protocolVersion)
    result.key("capabilities")
    result.beginObject()
    result.key("metrics")
    result.beginArray()
    for index in context.metricNames.indices { result.descriptor(context.descriptor(at: index)) }
    result.endArray()
    result.key("tiers")
    result.beginArray()
    for tier in Tier.allCases { result.string(text: tier.rawValue) }
    result.endArray()
    result.key("methods")
    result.beginArray()
    for method in dispatcher.requestMethodNames { result.string(text: method) }
    result.endArray()
    result.key("framings")
    result.beginArray()
    result.string("newline")
    result.string("contentLength")
    result.endArray()
    result.key("batches"); result.bool(true)
    result.key("subscriptions"); result.bool(true)
    result.endObject()
    result.key("snapshot"); result.snapshot(context.snapshot())
    result.endObject()
  }
}
