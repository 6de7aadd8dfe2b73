public import JSONRPC
public import Logging
public import PluginHost
import RefreshScheduler
public import Ledger
public import Postgres
public import UsageCore
import JSON

/// The usage methods: maps JSON-RPC requests onto the ``UsageContext`` and sends the notifications clients
/// subscribe to. Runs on the server's loop thread.
public final class UsageService {
  public let context: UsageContext
  let dispatcher: Dispatcher
  let logger: Logger
  var subscriptions = Subscriptions()
  var initialized = false
  /// Field names per metric, as bytes, so increments are validated without allocating.
  var fieldNames: [[[UInt8]]] = []
  /// Asked to watch the client's process when `initialize` names one.
  public var watchProcess: ((Int32) -> Void)?
  /// Keeps the metrics in step with their authorities; `nil` in a session without refreshes.
  public let synchronizer: Synchronizer?
  /// The durable ledger, if the session has one: what `usage/history` reads.
  public var durableLedger: DurableLedger?
  /// The account's ledger in PostgreSQL, if the session has one: what `usage/history` reads (every device's changes).
  public var sharedLedger: SharedLedger?
  /// The device that last moved a metric held by a shared authority, named in `usage/drift`.
  var driftSource: (String) -> String? = { _ in nil }
  /// Decides and answers the changes (increment, decrement, reset) inside the ledger's transactions.
  let committer: ChangeCommitter
  /// Manual refreshes waiting for their reads, with the metrics they asked for.
  var refreshes: [WaiterID: (reply: PendingReply, metrics: [Int]?)] = [:]

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

  func refreshFieldNames() {
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
      let source = driftSource(drift.metric)
      dispatcher.output.notify("usage/drift") { $0.drift(drift, source: source) }
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

  func announce(_ crossing: ThresholdCrossing?) {
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
    dispatcher.register("initialize") { [unowned self] request, result throws(RPCError) in
      try initialize(request, &result)
    }
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
          field: "metric",
          "\(name) is counted by fields and cannot be decremented; use usage/reset (labels to reset one entry)",
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
      sharedLedger?.keepTier(tier.rawValue)
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
}
