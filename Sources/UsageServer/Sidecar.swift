public import JSONRPC
import Ledger
public import Logging
public import PluginHost
import Postgres
import RefreshScheduler
public import UsageCore
import Glibc

/// Assembles and runs one usagectx session on a pair of file descriptors: the loop, the dispatcher, the usage
/// service and the context.
public enum Sidecar {
  /// Everything a session can be told from the command line.
  public struct Options: Sendable {
    public var limits = Dispatcher.Limits()
    public var server = StdioServer.Configuration()
    public var configuration = UsageConfiguration()
    /// Directories named with `--plugins`, searched before the environment and the defaults.
    public var pluginDirectories: [String] = []
    /// Whether the default locations (beside the executable) are searched too.
    public var defaultPluginLocations = true
    /// Where the durable ledger lives (`usage.sqlite3`); `nil` keeps the ledger in memory only.
    public var stateDirectory: String?
    /// How long a commit waits for another process's lock on the ledger, in milliseconds.
    public var busyTimeout: Int32 = 5_000
    /// Whether answers to changes wait for the change to be committed (the default), or go out before the commit
    /// (`--ack memory`: faster, but a crash can lose changes already answered).
    public var acknowledgeAfterCommit = true
    /// The protocol the session speaks on its stdio: usagectx's own (`usage`) or the Model Context Protocol (`mcp`).
    public var face: Face = .usage
    /// How often other processes' commits to the ledger are looked for (a live screen looks more often).
    public var ledgerLookInterval: Duration = .milliseconds(250)
    /// How many changes for metrics held in other processes may wait in the outbox before new ones are refused.
    public var outboxLimit = 1_000_000
    public init() {}

    /// Where plugins are looked for.
    public var searchPath: PluginSearchPath {
      .standard(explicit: pluginDirectories, defaults: defaultPluginLocations)
    }
  }

  /// The protocol a session speaks to its client, over the same context.
  public enum Face: Sendable {
    /// usagectx's own methods (`usage/*`), the default.
    case usage
    /// The Model Context Protocol: tools and resources (``MCPServer``).
    case mcp
  }

  /// Runs a session reading `input` and answering on `output` until it ends; returns the exit code. The plugins
  /// are those found on the options' search path.
  public static func run(
    input: Int32, output: Int32, options: Options, logger: Logger, clock: any WallClock = SystemWallClock()
  ) -> Int32 {
    let catalog = PluginCatalog.load(
      searchPath: options.searchPath, configuration: options.configuration, logger: logger)
    return run(input: input, output: output, catalog: catalog, options: options, logger: logger, clock: clock)
  }

  /// A tag for this session's outbox keys: the process id and the start time.
  static func sessionTag() -> String {
    "usagectx-\(getpid())-\(SystemWallClock().now().milliseconds)"
  }

  /// Runs a session with the plugins of `catalog`.
  public static func run(
    input: Int32, output: Int32, catalog: PluginCatalog, options: Options, logger: Logger,
    clock: any WallClock = SystemWallClock()
  ) -> Int32 {
    let context: UsageContext
    let policies: [RefreshPolicy]
    var durable: DurableLedger?
    if let directory = options.stateDirectory {
      do {
        let store = try LedgerStore(directory: directory, busyTimeout: options.busyTimeout)
        let checked = store.checkedAtOpen
        let ledger = try DurableLedger(store: store)
        logger.debug(
          "ledger \(ledger.path): \(ledger.rowsReadAtOpen) counter rows read at open, whole-file check \(checked ? "run" : "skipped (marked)")"
        )
        durable = ledger
      } catch {
        logger.critical("\(error)")
        catalog.shutdown()
        return 2
      }
    }
    // The account's ledger in PostgreSQL, over the durable ledger, when a shared authority is configured.
    let opened = openShared(durable: durable, configuration: options.configuration, logger: logger)
    if case .failure(let refusal) = opened {
      logger.critical("\(refusal)")
      catalog.shutdown()
      return 2
    }
    let shared = try? opened.get()  // harmless: the failure was handled just above
    // Changes to metrics held by another process go through the durable outbox.
    let policy = try? RefreshSettings.globalPolicy(options.configuration)  // harmless: refused just below
    let outbox = durable.map {
      Outbox(
        ledger: $0, logger: logger, session: Self.sessionTag(), backoff: policy?.backoff ?? Backoff(),
        limit: options.outboxLimit)
    }
    let outboxReference = outbox.map { LoopBound($0) }
    var wrap: (@Sendable (String, any Authority) -> any Authority)?
    if let outboxReference {
      wrap = { @Sendable (metric: String, source: any Authority) -> any Authority in
        outboxReference.value?.wrap(metric, source) ?? source
      }
    }
    do {
      context = try UsageContext(
        plugins: catalog.plugins, configuration: configuration(options.configuration, shared: shared), clock: clock,
        ledger: sessionLedger(shared, durable), authorities: catalog.sourceAuthorities, outbox: wrap)
      policies = try RefreshSettings.policies(options.configuration, metrics: context.metricNames)
    } catch {
      logger.critical("configuration refused: \(error)")
      return 2
    }
    let channel = OutputChannel(fd: output)
    let dispatcher = Dispatcher(output: channel, limits: options.limits, logger: logger)
    let server = StdioServer(input: input, dispatcher: dispatcher, configuration: options.server, logger: logger)
    let jobs = server.jobs
    let schedulerClock = SystemSchedulerClock()
    let synchronizer = Synchronizer(
      context: context, policies: policies, clock: schedulerClock, post: { jobs.post($0) })
    let afterCommit = options.acknowledgeAfterCommit && durable != nil
    let service = UsageService(
      context: context, dispatcher: dispatcher, ledger: sessionLedger(shared, durable), waitsForCommit: afterCommit,
      synchronizer: synchronizer, plugins: { catalog.currentStatuses() }, logger: logger)
    service.durableLedger = durable
    let mcp = options.face == .mcp ? MCPServer(service: service, logger: logger) : nil
    service.sharedLedger = shared
    // Keys are kept 24 hours; older ones are forgotten at start.
    do {
      try durable?.forgetAnswers(before: clock.now().milliseconds - KeptAnswer.retention)
    } catch {
      logger.warning("old idempotency keys not forgotten: \(error)")
    }
    let monotonic = ContinuousClock()
    service.watchProcess = { [unowned server] pid in server.watch(process: pid) }
    let committer = service.committer
    // What a commit put in the outbox is sent on the loop's next turn, once the burst's answers are out.
    committer.afterCommit = {
      guard let committed = outbox?.takeCommitted() else { return }
      jobs.post { outboxReference?.value?.send(committed: committed, context) }
    }
    if let outbox {
      committer.admits = { index in
        let metric = context.metricNames[index]
        return outbox.isFull(metric) ? .outboxFull(metric: metric, limit: outbox.limit) : nil
      }
    }
    // A commit that failed after its answers (--ack memory) took its changes back: the ledger's metrics are read again.
    committer.lostAfterAnswer = {
      synchronizer.readNow(context.metricNames.indices.filter { context.authority(ofMetric: $0) is LedgerAuthority })
    }
    // Other devices of the account: their commits arrive as notifications on the database connection.
    let sharedWatcher = shared.map {
      SharedWatcher(ledger: $0, context: context, synchronizer: synchronizer, server: server, logger: logger)
    }
    sharedWatcher?.tell(service)
    server.onBurstEnd = { [unowned server] in
      // By default the burst's changes are decided and committed now, then answered; with --ack memory they were
      // answered at once and are committed right after the answers are written.
      if afterCommit {
        service.commitChanges()
        // The answers leave now: the refreshes and notifications below come after them anyway.
        server.output.flush()
      } else if durable != nil {
        committer.commitSoon(jobs)
      }
      sharedWatcher?.afterBurst()
      service.pumpRefreshes()
      service.sendChanges()
      mcp?.sendUpdates()
    }
    server.onStop = { service.commitChanges() }
    // Other processes on the same state directory: their commits are looked for a few times a second.
    let watcher = durable.map {
      LedgerWatcher(
        ledger: $0, context: context, synchronizer: synchronizer, logger: logger, interval: options.ledgerLookInterval)
    }
    server.nextTimerDeadline = {
      var next = synchronizer.nextDeadline().map { schedulerClock.continuousInstant($0) }
      if let rollover = service.nextRollover() {
        let wait = max(0, rollover.milliseconds - clock.now().milliseconds)
        let instant = monotonic.now.advanced(by: .milliseconds(wait))
        next = next.map { min($0, instant) } ?? instant
      }
      if let watch = watcher?.nextLook { next = next.map { min($0, watch) } ?? watch }
      if let retry = outbox?.nextRetry { next = next.map { min($0, retry) } ?? retry }
      if let shared = sharedWatcher?.nextDeadline { next = next.map { min($0, shared) } ?? shared }
      return next
    }
    server.onTimer = {
      service.rollOver()
      watcher?.lookIfDue()
      outbox?.retryDue()
      sharedWatcher?.tick()
      service.pumpRefreshes()
    }
    // A plugin program that goes down marks its metrics in error at once; serving again clears it. The loop is
    // woken so subscribers hear in the same burst.
    catalog.observeExecHealth { metrics, error in
      jobs.post {
        for metric in metrics {
          if let index = context.index(ofMetric: metric) { context.setError(metric: index, error) }
        }
      }
    }
    // What became of each change passed on to a plugin program: settled changes are included in the next reading
    // that starts after them. The observer may run on any thread (even inside the report), so it only posts.
    catalog.observeReports { metric, seq, outcome in
      jobs.post {
        guard let index = context.index(ofMetric: metric) else { return }
        // A change lost on the way stays in the outbox and in flight: it is sent again.
        if let outbox = outboxReference?.value, !outbox.outcome(metric: metric, seq: seq, outcome) { return }
        context.settle(metric: index, seq: seq)
        switch outcome {
        case .accepted: context.keepExpectedReading(metric: index)
        case .refused(let reason), .lost(let reason), .retry(let reason, _):
          logger.warning("change \(seq) of \(metric) was not written by its authority: \(reason)")
        }
      }
    }
    // The fields, cost and breakdown of the current period come back from the ledger.
    if durable != nil { context.restoreDetail() }
    // Sources in other places start from what they said last (kept in the ledger), not from zero, in case they cannot
    // be read now.
    if durable != nil { context.restoreReadings() }
    // Changes an earlier session left for authorities that were away are counted and sent again.
    outbox?.replay(into: context)
    // Start from what the authorities say (a directory's files, a backend's count), read in parallel.
    synchronizer.readAllNow()
    outbox?.sendReplayed()
    logger.debug("usagectx \(ServerInfo.version) serving \(context.metricNames.joined(separator: ", "))")
    let code = server.run()
    if durable != nil { committer.commitPending() }
    durable?.closeCleanly()
    // Plugin programs get their stdin closed and time to finish, then are stopped and reaped.
    catalog.shutdown()
    return code
  }
}
