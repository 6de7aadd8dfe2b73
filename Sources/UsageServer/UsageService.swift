public import JSONRPC
public import Logging
public import PluginHost
import RefreshScheduler
public import Ledger
public import UsageCore
import JSON

/// The usage methods: maps JSON-RPC requests onto the ``UsageContext`` and sends the notifications clients
/// subscribe to. Runs on the server's loop thread.
public final class UsageService {
  public let context: UsageContext
  private let dispatcher: Dispatcher
  private let logger: Logger
  private var subscriptions = Subscriptions()
  private var initialized = false
  /// Field names per metric, as bytes, so increments are validated without allocating.
  private var fieldNames: [[[UInt8]]] = []
  /// Asked to watch the client's process when `initialize` names one.
  public var watchProcess: ((Int32) -> Void)?
  /// Keeps the metrics in step with their authorities; `nil` in a session without refreshes.
  public let synchronizer: Synchronizer?
  /// The durable ledger, if the session has one: what `usage/history` reads.
  public var durableLedger: DurableLedger?
  /// Decides and answers the changes (increment, decrement, reset) inside the ledger's transactions.
  let committer: ChangeCommitter
  /// Manual refreshes waiting for their reads, with the metrics they asked for.
  private var refreshes: [WaiterID: (reply: PendingReply, metrics: [Int]?)] = [:]

  /// What the plugin host found, as of now (exec plugins' state changes), for `plugins/list`.
  private let plugins: () -> [PluginStatus]

  /// A service answering on `dispatcher`; changes are decided in transactions of `ledger` (answered once
  /// committed when `waitsForCommit`, at once otherwise).
  public init(
    context: UsageContext, dispatcher: Dispatcher, ledger: any UsageLedger, waitsForCommit: Bool = false,
    synchronizer: Synchronizer? = nil, plugins: @escaping () -> [PluginStatus] = { [] }, logger: Logger
  ) {
    self.context = context
    self.dispatcher = dispatcher
    self.synchronizer = synchronizer
    self.plugins = plugins
    self.logger = logger
    committer = ChangeCommitter(
      context: context, ledger: ledger, dispatcher: dispatcher, waitsForCommit: waitsForCommit, logger: logger)
    refreshFieldNames()
    registerMethods()
    committer.applied = { [unowned self] crossing, metric in
      synchronizer?.mutated(metric)
      announce(crossing)
    }
    // Changes waiting for their commit are decided and answered before any request answered at once, so answers
    // keep the order of the requests and every request sees the changes sent before it.
    dispatcher.beforeAnsweringAtOnce = { [unowned self] in committer.commitQueued(pendingToo: false) }
    synchronizer?.events = { [unowned self] event in handle(event) }
    synchronizer?.onReadFailure = { [logger] metric, source, message in
      logger.warning("reading \(metric) from \(source) failed: \(message)")
    }
  }

  /// Notifications (threshold crossings) go to clients that said who they are or subscribed; a script that only
  /// pipes requests in sees only answers.
  private var wantsNotifications: Bool { initialized || !subscriptions.isEmpty }

  private func refreshFieldNames() {
    fieldNames = context.metricNames.indices.map { index in
      context.descriptor(at: index).fields.map { Array($0.utf8) }
    }
  }

  // MARK: - Synchronisation

  /// What the synchronizer has to tell: drift and crossings go to clients that want notifications, sync states to
  /// clients subscribed to the metric; finished manual refreshes are answered with the snapshot of their metrics.
  private func handle(_ event: Synchronizer.Event) {
    switch event {
    case .drift(let drift):
      logger.notice(
        "\(drift.metric): the authority says \(drift.authoritative), \(drift.expected) was expected (\(drift.delta))")
      guard wantsNotifications else { return }
      dispatcher.output.notify("usage/drift") { $0.drift(drift) }
    case .crossing(let crossing):
      announce(crossing)
    case .syncState(let metric, let status):
      // Sync states move with every refresh: only clients watching the metric hear them.
      guard subscriptions.covers(metric) else { return }
      let name = context.metricNames[metric]
      dispatcher.output.notify("usage/syncState") { $0.syncState(metric: name, status) }
    case .refreshed(let waiter):
      guard let refresh = refreshes.removeValue(forKey: waiter) else { return }
      let snapshot = context.snapshot(refresh.metrics)
      dispatcher.resolve(refresh.reply) { $0.snapshot(snapshot) }
    }
  }

  // MARK: - Burst and timer hooks

  /// Sends one `usage/changed` per subscription whose metrics changed since it was last told.
  public func sendChanges() {
    guard !subscriptions.isEmpty else { return }
    for (position, entry) in subscriptions.entries.enumerated() {
      let (version, changed) = context.changes(since: entry.seenVersion, among: entry.metrics)
      guard !changed.isEmpty else { continue }
      subscriptions.markSeen(position, version: version)
      dispatcher.output.notify("usage/changed") { writer in
        writer.beginObject()
        writer.key("subscription"); writer.string(text: entry.id)
        writer.key("version"); writer.int(Int64(clamping: version))
        writer.key("metrics"); writer.metricMap(changed)
        writer.endObject()
      }
    }
  }

  /// Starts the reads that are due and tells what changed (end of a burst, timer, posted results).
  public func pumpRefreshes() { synchronizer?.pump() }

  /// When the next periodic metric rolls over (wall clock), if any.
  public func nextRollover() -> Timestamp? { context.nextRollover() }

  /// Rolls over the metrics whose period ended; subscribers hear at the end of the burst.
  public func rollOver() { context.rollOverDueMetrics() }

  private func announce(_ crossing: ThresholdCrossing?) {
    guard let crossing, wantsNotifications else { return }
    dispatcher.output.notify("usage/threshold") { $0.thresholdCrossing(crossing) }
  }

  /// Decides the changes waiting for the burst's commit (end of a burst, end of the session).
  public func commitChanges() { committer.commitQueued() }

  // MARK: - Methods

  /// Registers a method that changes a metric: `parse` reads and checks its params; the change is then decided and
  /// answered by the committer, in the order of the requests (a refusal of its params too).
  /// Without a commit to wait for (`--ack memory`, no durable ledger) the change is decided and answered at once.
  private func registerChange(_ method: String, _ parse: @escaping (RequestContext) throws(RPCError) -> ChangeRequest) {
    guard committer.waitsForCommit else {
      dispatcher.register(method) { [unowned self] request, result throws(RPCError) in
        try committer.decideNow(try parse(request), into: &result)
      }
      return
    }
    // Answered at the end of the burst, in order, before anything answered at once: the id is not held meanwhile
    // (a script may send every request with the same id, as it could when changes were answered at once).
    dispatcher.registerDeferred(method, reservesID: false) { [unowned self] request, reply throws(RPCError) in
      do throws(RPCError) {
        committer.submit(try parse(request), reply: reply)
      } catch {
        committer.refuse(error, reply: reply)
      }
    }
  }

  private func registerMethods() {
    dispatcher.register("initialize") { [unowned self] request, result throws(RPCError) in try initialize(request, &result) }
    dispatcher.register("usage/get") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["metrics"])
      result.snapshot(context.snapshot(try metricList(params)))
    }
    registerChange("usage/increment") { [unowned self] request throws(RPCError) -> ChangeRequest in
      try incrementRequest(request)
    }
    registerChange("usage/decrement") { [unowned self] request throws(RPCError) -> ChangeRequest in
      let params = try Params(request, allowed: ["metric", "amount", "key"])
      let metric = try metricIndex(params)
      if !fieldNames[metric].isEmpty {
        // Its totals, breakdown and cost move together; a bare amount cannot say which to lower.
        let name = context.metricNames[metric]
        throw RPCError.invalidParams(
          field: "metric", "\(name) is counted by fields and cannot be decremented; use usage/reset (labels to reset one entry)",
          value: .string(name))
      }
      let amount = try params.amount("amount") ?? 1
      let key = try idempotencyKey(params)
      return ChangeRequest(
        metric: metric, operation: .decrement(amount: amount), key: key,
        fingerprint: key == nil ? "" : Fingerprint.of(method: "usage/decrement", params: request.params))
    }
    dispatcher.register("usage/check") { [unowned self] request, result throws(RPCError) in
      let (metric, params, fields) = try measuredParams(request, allowed: ["metric", "amount", "labels"])
      let amount = try params.amount("amount")
      let labels = try params.labels()
      do throws(UsageError) {
        result.checkResult(try context.check(metric: metric, amount: amount, fields: fields, labels: labels))
      } catch {
        throw RPCError(error)
      }
    }
    dispatcher.register("usage/subscribe") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["metrics"])
      let metrics = try metricList(params)
      let snapshot = context.snapshot(metrics)
      let id = subscriptions.add(metrics: metrics, seenVersion: snapshot.version)
      result.beginObject()
      result.key("subscription"); result.string(text: id)
      result.key("snapshot"); result.snapshot(snapshot)
      result.endObject()
    }
    dispatcher.register("usage/unsubscribe") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["subscription"])
      let id = try params.requiredString("subscription")
      guard subscriptions.remove(id) else {
        throw RPCError.invalidParams(field: "subscription", "is not an active subscription", value: .string(id))
      }
      result.beginObject()
      result.key("subscription"); result.string(text: id)
      result.key("removed"); result.bool(true)
      result.endObject()
    }
    dispatcher.register("usage/setTier") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["tier"])
      let tier = try tierParam(params)
      let crossings = context.setTier(tier)
      result.snapshot(context.snapshot())
      crossings.forEach(announce)
    }
    registerChange("usage/reset") { [unowned self] request throws(RPCError) -> ChangeRequest in
      let params = try Params(request, allowed: ["metric", "labels"])
      let metric = try metricIndex(params)
      let labels = try params.labels()
      var key: String? = nil
      if !labels.isEmpty {
        guard let label = context.descriptor(at: metric).breakdownLabel else {
          throw RPCError.invalidParams(field: "labels", "metric \(context.metricNames[metric]) has no breakdown")
        }
        guard let value = labels[label] else {
          throw RPCError.invalidParams(field: "labels.\(label)", "is required to reset one entry of the breakdown")
        }
        key = value
      }
      return ChangeRequest(metric: metric, operation: .reset(label: key))
    }
    dispatcher.registerDeferred("usage/refresh") { [unowned self] request, reply throws(RPCError) in
      let params = try Params(request, allowed: ["metrics", "force"])
      let metrics = try metricList(params)
      let force = try params.bool("force") ?? false
      guard let synchronizer, let waiter = synchronizer.requestRefresh(metrics, force: force) else {
        let snapshot = context.snapshot(metrics)
        dispatcher.resolve(reply) { $0.snapshot(snapshot) }
        return
      }
      refreshes[waiter] = (reply, metrics)
      reply.onCancel = { [unowned self] in
        synchronizer.cancel(waiter)
        refreshes[waiter] = nil
      }
    }
    dispatcher.register("client/focus") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["focused"])
      guard let focused = try params.bool("focused") else {
        throw RPCError.invalidParams(field: "focused", "is required")
      }
      synchronizer?.clientFocused(focused)
      result.beginObject()
      result.endObject()
    }
    dispatcher.register("client/online") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["online"])
      guard let online = try params.bool("online") else {
        throw RPCError.invalidParams(field: "online", "is required")
      }
      synchronizer?.clientOnline(online)
      result.beginObject()
      result.endObject()
    }
    dispatcher.register("usage/history") { [unowned self] request, result throws(RPCError) in
      try history(request, &result)
    }
    dispatcher.register("plugins/list") { [unowned self] request, result throws(RPCError) in
      _ = try Params(request, allowed: [])
      result.beginObject()
      result.key("plugins")
      result.beginArray()
      for plugin in plugins() { result.pluginStatus(plugin) }
      result.endArray()
      result.endObject()
    }
    dispatcher.register("usage/resetError") { [unowned self] request, result throws(RPCError) in
      let params = try Params(request, allowed: ["metrics"])
      let metrics = try metricList(params)
      context.resetErrors(metrics)
      synchronizer?.resetErrors(metrics)
      synchronizer?.publish()
      result.snapshot(context.snapshot(metrics))
    }
  }

  /// `usage/history {metric, since?, until?, groupBy?}`: the durable ledger's changes of a metric summed per UTC day,
  /// month or model. The changes of this burst are committed first, so the answer includes them.
  private func history(_ request: RequestContext, _ result: inout JSONWriter) throws(RPCError) {
    let params = try Params(request, allowed: ["metric", "since", "until", "groupBy"])
    let metric = try metricIndex(params)
    func moment(_ field: StaticString) throws(RPCError) -> Int64? {
      guard let text = try params.string(field) else { return nil }
      guard let timestamp = Timestamp(iso8601: text) else {
        throw RPCError.invalidParams(
          field: "\(field)", "must be an ISO 8601 date or time in UTC (2026-11-01, 2026-11-01T08:00:00Z)",
          value: .string(text))
      }
      return timestamp.milliseconds
    }
    let since = try moment("since")
    let until = try moment("until")
    let groupName = try params.string("groupBy") ?? "day"
    guard let grouping = HistoryGrouping(rawValue: groupName) else {
      throw RPCError.invalidParams(field: "groupBy", "must be one of day, month, model", value: .string(groupName))
    }
    guard let ledger = durableLedger else {
      throw RPCError.invalidRequest("noLedger", detail: "no durable ledger in this session (started with --no-state)")
    }
    let rows: [HistoryRow]
    do throws(CommitError) {
      // With --ack memory, changes already answered may still wait for their commit.
      try ledger.commit()
    } catch {
      throw RPCError.internalError("\(error)")
    }
    do throws(LedgerError) {
      rows = try ledger.history(metric: context.metricNames[metric], since: since, until: until, groupBy: grouping)
    } catch {
      throw RPCError.internalError("\(error)")
    }
    result.beginObject()
    result.key("groupBy"); result.string(text: grouping.rawValue)
    result.key("rows")
    result.beginArray()
    for row in rows {
      result.beginObject()
      result.key("metric"); result.string(text: row.metric)
      result.key("group")
      if let group = row.group { result.string(text: group) } else { result.null() }
      result.key("total"); result.int(row.total)
      result.key("changes"); result.int(row.changes)
      if row.reset != 0 {
        result.key("reset"); result.int(row.reset)
      }
      result.endObject()
    }
    result.endArray()
    result.endObject()
  }

  /// Reads the metric and then the params it accepts: `allowed` plus the metric's own fields (tokens: input,
  /// output), whose values are returned in declaration order.
  private func measuredParams(
    _ request: RequestContext, allowed: [StaticString]
  ) throws(RPCError) -> (metric: Int, params: Params, fields: [Int64?]) {
    // The metric decides which extra fields are accepted, so it is read first.
    let metric = try metricIndex(try Params(request, allowed: ["metric"], alsoAllowed: { _ in true }))
    let names = fieldNames[metric]
    let params = try Params(request, allowed: allowed) { key in
      names.contains { $0.count == key.count && $0.withUnsafeBytes { $0.elementsEqual(key) } }
    }
    var fields: [Int64?] = []
    if !names.isEmpty, let object = params.object {
      fields = Array(repeating: nil, count: names.count)
      for (position, name) in names.enumerated() {
        let fieldName = String(decoding: name, as: UTF8.self)
        if let value = object.member(fieldName), !value.isNull {
          fields[position] = try Params.amount(value, field: fieldName)
        }
      }
    }
    return (metric, params, fields)
  }

  /// `usage/increment`'s params, read and checked.
  private func incrementRequest(_ request: RequestContext) throws(RPCError) -> ChangeRequest {
    let (metric, params, fields) = try measuredParams(
      request, allowed: ["metric", "amount", "labels", "key", "enforce"])
    let amount = try params.amount("amount")
    let labels = try params.labels()
    let enforce = try params.bool("enforce") ?? false
    let key = try idempotencyKey(params)
    return ChangeRequest(
      metric: metric, operation: .increment(amount: amount, fields: fields, labels: labels, enforce: enforce),
      key: key, fingerprint: key == nil ? "" : Fingerprint.of(method: "usage/increment", params: request.params))
  }

  private func idempotencyKey(_ params: Params) throws(RPCError) -> String? {
    guard let key = try params.string("key") else { return nil }
    guard !key.isEmpty, key.utf8.count <= 255 else {
      throw RPCError.invalidParams(field: "key", "must be 1 to 255 bytes long", value: .string(key))
    }
    return key
  }

  private func initialize(_ request: RequestContext, _ result: inout JSONWriter) throws(RPCError) {
    guard !initialized else {
      throw RPCError.invalidRequest("alreadyInitialized", detail: "initialize may be sent only once")
    }
    // Like LSP, members initialize does not use (rootUri, capabilities, protocolVersion, ...) are ignored, so any
    // LSP- or MCP-style client can start a session.
    let params = try Params(request, allowed: [], alsoAllowed: { _ in true })
    if let pid = params["processId"] {
      guard let number = pid.int64, number > 0, number <= Int64(Int32.max) else {
        throw RPCError.invalidParams(field: "processId", "must be a positive process id or null", value: Params.shown(pid))
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

  // MARK: - Parameter helpers

  private func metricIndex(_ params: Params) throws(RPCError) -> Int {
    guard let value = params["metric"] else { throw RPCError.invalidParams(field: "metric", "is required") }
    guard let index = value.withStringBytes({ context.index(ofMetric: $0) }) else {
      if !value.isString {
        throw RPCError.invalidParams(field: "metric", "must be a string, not \(value.typeName)", value: Params.shown(value))
      }
      throw unknownMetric(value.string ?? "")
    }
    guard let index else { throw unknownMetric(value.string ?? "") }
    return index
  }

  private func unknownMetric(_ name: String) -> RPCError {
    RPCError(
      .invalidParams, "Invalid params: unknown metric \(name)",
      data: [
        "field": "metric", "reason": "is not a known metric", "value": .string(name),
        "known": .array(context.metricNames.map { .string($0) }),
      ])
  }

  /// `metrics: [names]` → indices, or `nil` for all.
  private func metricList(_ params: Params) throws(RPCError) -> [Int]? {
    guard let value = params["metrics"] else { return nil }
    guard value.isArray else { throw RPCError.invalidParams(field: "metrics", "must be an array of metric names") }
    var indices: [Int] = []
    for (position, element) in value.elements.enumerated() {
      guard let name = element.string else {
        throw RPCError.invalidParams(field: "metrics[\(position)]", "must be a string", value: Params.shown(element))
      }
      guard let index = context.index(ofMetric: name) else { throw unknownMetric(name) }
      if !indices.contains(index) { indices.append(index) }
    }
    return indices
  }

  private func tierParam(_ params: Params) throws(RPCError) -> Tier {
    let name = try params.requiredString("tier")
    guard let tier = Tier(rawValue: name) else {
      throw RPCError.invalidParams(field: "tier", "must be one of free, pro, ultra", value: .string(name))
    }
    return tier
  }
}
