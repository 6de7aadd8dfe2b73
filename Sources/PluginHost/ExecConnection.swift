import Dispatch
import Glibc
import Logging
import Synchronization
import UsageCore

/// The link to one exec plugin's program, shared by the plugin and its authorities.
///
/// Callers queue requests under the lock and wait for their answers (never longer than the manifest's timeout); one
/// I/O thread per plugin (``ExecLoop``) owns the child: it spawns it, writes the queued requests, reads answers and
/// stderr lines, enforces deadlines, kills and restarts a child that fails, and stops it on shutdown. Nothing a child
/// does can block a caller beyond the timeout, and a plugin that is down is reported at once, without waiting.
final class ExecConnection: Sendable {
  let manifest: ExecManifest
  let logger: Logger
  let state = Mutex(ExecState())
  /// A pipe whose read end wakes the I/O thread: `[read, write]`.
  let wakePipe: [Int32]
  /// Signalled when the I/O thread ends.
  let stopped = DispatchSemaphore(value: 0)

  /// Told when the plugin's program goes down after serving (with why) and when it serves again (`nil`).
  let healthObserver = Mutex<(@Sendable (String?) -> Void)?>(nil)

  /// Tells the health observer, if any.
  func reportHealth(_ error: String?) {
    healthObserver.withLock { $0 }?(error)
  }

  /// Told, once for each report, what became of it: the metric, the change's sequence number, and the outcome.
  let reportObserver = Mutex<ReportObserver?>(nil)

  /// Tells the report observer, if any, the outcomes of `reports`, in order. Never call it while holding ``state``:
  /// the observer may hand the outcome to another thread that takes other locks.
  func settle(_ reports: [ExecState.Settled]) {
    guard !reports.isEmpty, let observer = reportObserver.withLock({ $0 }) else { return }
    for report in reports { observer.handler(report.metric, report.seq, report.outcome) }
  }

  /// Extra time a caller waits beyond the timeout for the I/O thread's own verdict (which comes first).
  static let callerGrace: Int64 = 250

  init(manifest: ExecManifest, logger: Logger) {
    self.manifest = manifest
    self.logger = logger
    var ends: [Int32] = [-1, -1]
    if !makePipe(&ends, nonBlocking: true) { ends = [-1, -1] }
    wakePipe = ends
  }

  deinit {
    for fd in wakePipe where fd >= 0 { close(fd) }
  }

  var timeout: Int64 { manifest.timeoutMilliseconds }
  var name: String { manifest.name }

  // MARK: - Requests

  /// Starts the plugin in the background with `options`, if it has not been started; does not wait.
  func start(options: ConfigValue) {
    let startThread = state.withLock { state -> Bool in
      guard state.phase == .idle else { return false }
      state.phase = .starting
      state.options = options
      state.loopRunning = true
      return true
    }
    if startThread { startLoop() }
  }

  /// Describes the plugin with `options`: starts it on first use (waiting for its first description), sends
  /// `plugin/describe` again when the options change, and answers from the last description when the options are
  /// unchanged or the plugin is restarting (which then describes itself with the new options).
  func describe(options: ConfigValue) -> ExecOutcome {
    enum Step {
      case answer(ExecOutcome)
      case wait(ExecWaiter, startThread: Bool)
    }
    let waiter = ExecWaiter()
    let deadline = ExecClock.now() + timeout
    let step = state.withLock { state -> Step in
      switch state.phase {
      case .idle:
        state.phase = .starting
        state.options = options
        state.startWaiters.append(waiter)
        state.loopRunning = true
        return .wait(waiter, startThread: true)
      case .starting:
        guard state.options == options else { return .answer(.failed("is starting with other options")) }
        state.startWaiters.append(waiter)
        return .wait(waiter, startThread: false)
      case .running:
        if let description = state.description, state.describedOptions == options {
          return .answer(.described(description))
        }
        state.options = options
        let version = manifest.protocolVersion
        state.enqueue(.describe(.reconfigure, options: options), deadline: deadline, waiter: waiter) { id in
          ExecMessage.describe(id: id, options: options, version: version)
        }
        return .wait(waiter, startThread: false)
      case .restarting:
        state.options = options
        guard let description = state.description else { return .answer(.failed(state.unavailableReason)) }
        return .answer(.described(description))
      case .failed, .stopping, .stopped:
        return .answer(.failed(state.unavailableReason))
      }
    }
    switch step {
    case .answer(let outcome):
      return outcome
    case .wait(let waiter, let startThread):
      if startThread { startLoop() } else { wake() }
      return waiter.wait(milliseconds: timeout + Self.callerGrace)
        ?? .failed("did not answer plugin/describe within \(timeout) ms")
    }
  }

  /// Sends `metric/fetch` and waits for the answer; fails at once when the plugin is not running.
  func fetch(metric: String) -> ExecOutcome {
    let waiter = ExecWaiter()
    let deadline = ExecClock.now() + timeout
    let refusal = state.withLock { state -> String? in
      guard state.phase == .running else { return state.unavailableReason }
      state.enqueue(.fetch(metric: metric), deadline: deadline, waiter: waiter) { id in
        ExecMessage.fetch(id: id, metric: metric)
      }
      return nil
    }
    if let refusal { return .failed(refusal) }
    wake()
    return waiter.wait(milliseconds: timeout + Self.callerGrace)
      ?? .failed("did not answer metric/fetch within \(timeout) ms")
  }

  /// Queues a change to report without waiting. While the plugin is down (or busy), changes are held and sent once
  /// it is running again; nothing is dropped (the outbox bounds how many wait). Each change's outcome goes to the
  /// report observer exactly once: accepted, refused for good or to be retried when the plugin answers; lost at once
  /// (the plugin failed to start or is stopped); or lost when a child fails or is stopped with it unanswered.
  func report(metric: String, change: ReportedChange) {
    enum Effect {
      case sent
      case held
      case refused(String)
    }
    let deadline = ExecClock.now() + timeout
    let effect = state.withLock { state -> Effect in
      switch state.phase {
      case .failed, .stopping, .stopped:
        return .refused(state.unavailableReason)
      case .running:
        let before = state.reportsInFlight
        state.hold(ExecState.Report(metric: metric, change: change))
        state.releaseHeldReports(deadline: deadline)
        return state.reportsInFlight == before ? .held : .sent
      case .idle, .starting, .restarting:
        state.hold(ExecState.Report(metric: metric, change: change))
        return .held
      }
    }
    switch effect {
    case .sent: wake()
    case .held: break
    case .refused(let reason):
      logger.warning("plugin \(name) \(reason); metric/report for \(metric) (\(change.delta)) not sent")
      settle([ExecState.Settled(metric: metric, seq: change.seq, outcome: .lost("exec plugin \(name) \(reason)"))])
    }
  }

  // MARK: - Status and shutdown

  /// The plugin's live status.
  func status() -> PluginStatus {
    state.withLock { state in
      PluginStatus(
        name: manifest.name, version: state.description?.version, kind: .exec, path: manifest.path,
        metrics: state.description?.metricNames ?? [], sources: state.description?.sources ?? [],
        state: state.statusState, lastError: state.lastError)
    }
  }

  /// Asks the I/O thread to stop the child (close its stdin, wait 1 s, SIGTERM, wait 1 s, SIGKILL, reap); does not
  /// wait. Requests still waiting fail; later ones are refused. A plugin that failed to start stays failed.
  func beginShutdown() {
    let lost = state.withLock { state -> [ExecState.Settled] in
      switch state.phase {
      case .idle:
        // No I/O thread runs to settle the reports held before the start.
        state.phase = .stopped
        return state.loseHeldReports("exec plugin \(name) was stopped before the report was sent")
      case .starting, .running, .restarting: state.phase = .stopping
      case .failed, .stopping, .stopped: break
      }
      return []
    }
    settle(lost)
    wake()
  }

  /// Waits until the I/O thread has ended (at most about 2.5 s after ``beginShutdown()``).
  func waitUntilStopped() {
    while state.withLock({ $0.loopRunning }) {
      _ = stopped.wait(timeout: .now() + .milliseconds(100))
    }
  }

  /// Stops the plugin and waits for it.
  func shutdown() {
    beginShutdown()
    waitUntilStopped()
  }

  // MARK: - The I/O thread

  /// Wakes the I/O thread to look at the shared state.
  func wake() {
    var byte: UInt8 = 1
    _ = write(wakePipe[1], &byte, 1)
  }

  /// Starts the I/O thread, with every signal blocked: the host handles signals on its own loop, and a signal
  /// delivered to this thread would take its default action (ending the process).
  private func startLoop() {
    let context = Unmanaged.passRetained(self).toOpaque()
    var all = sigset_t()
    sigfillset(&all)
    var previous = sigset_t()
    pthread_sigmask(SIG_SETMASK, &all, &previous)
    var thread = pthread_t()
    let result = pthread_create(&thread, nil, execLoopMain, context)
    pthread_sigmask(SIG_SETMASK, &previous, nil)
    guard result == 0 else {
      Unmanaged<ExecConnection>.fromOpaque(context).release()
      let reason = "cannot start a thread: \(systemError(result))"
      let (waiters, lost) = state.withLock { state -> ([ExecWaiter], [ExecState.Settled]) in
        state.phase = .failed
        state.loopRunning = false
        state.lastError = reason
        defer { state.startWaiters = [] }
        return (state.startWaiters, state.loseHeldReports("exec plugin \(name) failed to start: \(reason)"))
      }
      for waiter in waiters { waiter.complete(.failed(reason)) }
      settle(lost)
      return
    }
    pthread_detach(thread)
  }
}

/// The I/O thread's entry: runs the loop of the connection passed (retained) as `context`.
private func execLoopMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
  guard let context else { return nil }
  let connection = Unmanaged<ExecConnection>.fromOpaque(context).takeRetainedValue()
  ExecLoop(connection: connection).run()
  return nil
}

/// Monotonic time in milliseconds, for deadlines.
enum ExecClock {
  static func now() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
  }
}

/// The report observer, boxed: read under the lock as a reference, so calling it goes through no conversion of the
/// closure's representation.
final class ReportObserver: Sendable {
  let handler: @Sendable (_ metric: String, _ seq: UInt64, ReportOutcome) -> Void

  init(_ handler: @escaping @Sendable (_ metric: String, _ seq: UInt64, ReportOutcome) -> Void) {
    self.handler = handler
  }
}
