import JSON
import UsageCore

/// Everything about one exec plugin that its callers and its I/O thread share, kept under the connection's lock.
/// The child's descriptors are not here: only the I/O thread (``ExecLoop``) touches them.
struct ExecState {
  /// Where the plugin is in its life.
  enum Phase: Equatable {
    /// Not started yet.
    case idle
    /// First start: spawned or about to be, `plugin/describe` not answered yet.
    case starting
    /// Described and serving.
    case running
    /// The child failed after having served; a new one is started after a backoff delay, then described.
    case restarting
    /// The first start failed; nothing more is tried.
    case failed
    /// Shutting down (the I/O thread is stopping the child).
    case stopping
    /// Shut down; the child has been reaped.
    case stopped
  }

  /// A request written (or about to be written) to the child, waiting for its answer.
  struct Pending {
    enum Kind {
      case describe(Purpose, options: ConfigValue)
      case fetch(metric: String)
      /// One `metric/report`: the changes it carries, in order (one in version 1); `batched` in version 2 (answered
      /// with one result per change).
      case report([Sent], batched: Bool)
    }

    /// Why `plugin/describe` was sent.
    enum Purpose {
      /// The first start: a refusal or failure fails the plugin.
      case start
      /// After a failure: a refusal or failure means another restart.
      case restart
      /// New options while running: a refusal keeps the previous ones.
      case reconfigure
    }

    var kind: Kind
    /// Monotonic milliseconds by which the answer must have arrived.
    var deadline: Int64
    var waiter: ExecWaiter?

    var method: String {
      switch kind {
      case .describe: return "plugin/describe"
      case .fetch: return "metric/fetch"
      case .report: return "metric/report"
      }
    }
  }

  /// A change to report, not sent yet.
  struct Report {
    var metric: String
    var change: ReportedChange
  }

  /// A change sent in a `metric/report`, waiting for its outcome.
  struct Sent {
    var metric: String
    var seq: UInt64
  }

  /// What became of one report, to be told to the report observer once the lock is released.
  struct Settled {
    var metric: String
    var seq: UInt64
    var outcome: ReportOutcome
  }

  /// `metric/report` requests in flight at once; more changes wait in ``heldReports``, so a slow plugin is not
  /// flooded. (The outbox bounds how many wait; nothing is dropped here.)
  static let maxReportsInFlight = 32

  var phase = Phase.idle
  var lastError: String?
  /// Whether the I/O thread runs (or is being started).
  var loopRunning = false
  var nextID: Int64 = 1
  /// Encoded request lines the I/O thread has not taken yet.
  var outgoing: [UInt8] = []
  var pending: [Int64: Pending] = [:]
  /// Callers waiting for the first start's description.
  var startWaiters: [ExecWaiter] = []
  /// Changes waiting to be sent, oldest first from ``heldStart`` (a queue: taking from the front moves nothing).
  var heldReports: [Report] = []
  var heldStart = 0
  /// `metric/report` requests sent and not answered.
  var reportsInFlight = 0
  /// The protocol version the running program speaks.
  var protocolVersion: Int64 = 1
  /// The options the next `plugin/describe` sends (on a start or restart).
  var options = ConfigValue.null
  /// The last valid description, and the options it was given for.
  var description: ExecDescription?
  var describedOptions: ConfigValue?

  /// Queues a request line for the I/O thread; returns its id.
  @discardableResult
  mutating func enqueue(_ kind: Pending.Kind, deadline: Int64, waiter: ExecWaiter?, encode: (Int64) -> [UInt8])
    -> Int64
  {
    let id = nextID
    nextID += 1
    pending[id] = Pending(kind: kind, deadline: deadline, waiter: waiter)
    outgoing += encode(id)
    if case .report = kind { reportsInFlight += 1 }
    return id
  }

  /// How many changes wait to be sent.
  var heldCount: Int { heldReports.count - heldStart }

  /// Queues a change to be sent.
  mutating func hold(_ report: Report) {
    heldReports.append(report)
  }

  /// Sends held changes while there is room in flight: one per request in version 1, up to
  /// ``ExecMessage/maxChangesPerReport`` in version 2.
  mutating func releaseHeldReports(deadline: Int64) {
    guard phase == .running else { return }
    let perRequest = protocolVersion >= 2 ? ExecMessage.maxChangesPerReport : 1
    while heldCount > 0 && reportsInFlight < Self.maxReportsInFlight {
      let end = min(heldReports.count, heldStart + perRequest)
      let changes = heldReports[heldStart..<end]
      heldStart = end
      let sent = changes.map { Sent(metric: $0.metric, seq: $0.change.seq) }
      let version = protocolVersion
      enqueue(.report(sent, batched: version >= 2), deadline: deadline, waiter: nil) { id in
        if version >= 2 { return ExecMessage.reportBatch(id: id, changes: changes) }
        let report = changes[changes.startIndex]
        return ExecMessage.report(
          id: id, metric: report.metric, seq: report.change.seq, delta: report.change.delta, key: report.change.key)
      }
    }
    if heldStart == heldReports.count {
      heldReports.removeAll(keepingCapacity: true)
      heldStart = 0
    } else if heldStart > 4096 && heldStart * 2 > heldReports.count {
      heldReports.removeFirst(heldStart)
      heldStart = 0
    }
  }

  /// Removes the reports sent and not answered yet, settling each change as `outcome`.
  mutating func takeReportsInFlight(_ outcome: ReportOutcome) -> [Settled] {
    var taken: [(id: Int64, changes: [Sent])] = []
    for (id, request) in pending {
      guard case .report(let changes, _) = request.kind else { continue }
      taken.append((id, changes))
    }
    for entry in taken { pending.removeValue(forKey: entry.id) }
    reportsInFlight = 0
    return taken.sorted { $0.id < $1.id }.flatMap { entry in
      entry.changes.map { Settled(metric: $0.metric, seq: $0.seq, outcome: outcome) }
    }
  }

  /// Removes the changes held (not sent), settling each as lost with `reason`.
  mutating func loseHeldReports(_ reason: String) -> [Settled] {
    defer {
      heldReports.removeAll()
      heldStart = 0
    }
    return heldReports[heldStart...].map { Settled(metric: $0.metric, seq: $0.change.seq, outcome: .lost(reason)) }
  }

  /// Why requests cannot be sent now, as the end of a sentence starting with the plugin's name.
  var unavailableReason: String {
    switch phase {
    case .idle, .starting: return "is not started yet"
    case .running: return "is running"
    case .restarting: return "is restarting" + (lastError.map { " (last error: \($0))" } ?? "")
    case .failed: return "failed to start" + (lastError.map { ": \($0)" } ?? "")
    case .stopping, .stopped: return "is stopped"
    }
  }

  /// The state shown in `plugins/list`.
  var statusState: PluginStatus.State {
    switch phase {
    case .idle, .starting: return .starting
    case .running: return .loaded
    case .restarting: return .restarting
    case .failed: return .failed
    case .stopping, .stopped: return .stopped
    }
  }
}
