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
      case report(metric: String, seq: UInt64)
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

  /// A `metric/report` not sent yet.
  struct Report {
    var metric: String
    /// The metric's sequence number of the change.
    var seq: UInt64
    var delta: Int64
    var key: String?
  }

  /// What became of one report, to be told to the report observer once the lock is released.
  struct Settled {
    var metric: String
    var seq: UInt64
    var outcome: ReportOutcome
  }

  /// Reports in flight at once; more wait in ``heldReports``, so a slow plugin is not flooded.
  static let maxReportsInFlight = 32
  /// Reports held at most (while the plugin is down or busy); beyond that the oldest are dropped.
  static let maxHeldReports = 10_000

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
  var heldReports: [Report] = []
  var reportsInFlight = 0
  /// Reports dropped because ``heldReports`` was full, since the last log line about it.
  var droppedReports = 0
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

  /// Sends held reports while there is room in flight.
  mutating func releaseHeldReports(deadline: Int64) {
    guard phase == .running else { return }
    let count = min(heldReports.count, max(0, Self.maxReportsInFlight - reportsInFlight))
    guard count > 0 else { return }
    for report in heldReports.prefix(count) {
      enqueue(.report(metric: report.metric, seq: report.seq), deadline: deadline, waiter: nil) { id in
        ExecMessage.report(id: id, metric: report.metric, seq: report.seq, delta: report.delta, key: report.key)
      }
    }
    heldReports.removeFirst(count)
  }

  /// Removes the reports sent and not answered yet, settling each as lost with `reason`.
  mutating func loseReportsInFlight(_ reason: String) -> [Settled] {
    var lost: [(id: Int64, settled: Settled)] = []
    for (id, request) in pending {
      guard case .report(let metric, let seq) = request.kind else { continue }
      lost.append((id, Settled(metric: metric, seq: seq, outcome: .lost(reason))))
    }
    for entry in lost { pending.removeValue(forKey: entry.id) }
    reportsInFlight = 0
    return lost.sorted { $0.id < $1.id }.map(\.settled)
  }

  /// Removes the reports held (not sent), settling each as lost with `reason`.
  mutating func loseHeldReports(_ reason: String) -> [Settled] {
    defer { heldReports.removeAll() }
    return heldReports.map { Settled(metric: $0.metric, seq: $0.seq, outcome: .lost(reason)) }
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
