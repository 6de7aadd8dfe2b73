import Dispatch
import Glibc
import JSON
import Logging
import Synchronization
import UsageCore

/// The I/O thread of one exec plugin: the only code that touches the child process and its pipes.
///
/// Each turn takes the requests callers queued, writes them (without blocking: the child's stdin is non-blocking and
/// unwritten bytes wait for `POLLOUT`), and polls the child's stdout and stderr, the wake pipe, and the nearest
/// deadline. Answers complete the callers' waiters; stderr lines go to the log. A child that exits, closes its
/// pipes, misses a deadline or writes anything but valid answers is killed, reaped, and — if it had served before —
/// started again after a backoff delay.
final class ExecLoop {
  /// Longest line accepted on the child's stdout.
  static let maxLineBytes = 1 << 20
  /// Longest stderr line logged as one; longer ones are logged in pieces.
  static let maxLogLineBytes = 64 << 10
  /// How long a child that closed its stdout is given to exit, so its exit status can be reported.
  static let exitGraceMilliseconds: Int64 = 200
  /// How long a child is given after its stdin is closed, and again after SIGTERM, on shutdown.
  static let shutdownGraceMilliseconds: Int64 = 1_000
  /// How long a child is given to read the requests still queued, on shutdown, before its stdin is closed.
  static let finalWriteMilliseconds: Int64 = 500

  private let connection: ExecConnection
  private var child: ChildProcess?
  /// Whether the current child has been reaped (its pid must not be signalled any more).
  private var reaped = false
  private var writeBuffer: [UInt8] = []
  private var writeOffset = 0
  private var output = ExecLineBuffer(maxLineBytes: ExecLoop.maxLineBytes, splitLongLines: false)
  private var errors = ExecLineBuffer(maxLineBytes: ExecLoop.maxLogLineBytes, splitLongLines: true)
  /// When the next child is started, while restarting.
  private var restartAt: Int64?
  private var backoff: ExecBackoff
  private let environment: [String]
  private var chunk = [UInt8](repeating: 0, count: 65_536)

  init(connection: ExecConnection) {
    self.connection = connection
    backoff = ExecBackoff(
      baseMilliseconds: connection.manifest.restartBaseMilliseconds,
      capMilliseconds: connection.manifest.restartCapMilliseconds)
    environment = Self.environment(adding: connection.manifest.environment)
  }

  private var name: String { connection.manifest.name }
  private var logger: Logger { connection.logger }
  private var timeout: Int64 { connection.timeout }

  private enum Step {
    case stop
    case end
    case spawn
    case wait(deadline: Int64?)
  }

  /// Runs until the plugin is shut down, or its first start failed.
  func run() {
    while true {
      let now = ExecClock.now()
      let step = connection.state.withLock { state -> Step in
        switch state.phase {
        case .stopping: return .stop
        case .stopped, .idle: return .end
        case .failed where child == nil: return .end
        default: break
        }
        if child == nil {
          if state.phase == .starting { return .spawn }
          if state.phase == .restarting, let restartAt, restartAt <= now { return .spawn }
        }
        if !state.outgoing.isEmpty {
          if child != nil { writeBuffer += state.outgoing }
          state.outgoing.removeAll(keepingCapacity: true)
        }
        return .wait(deadline: state.pending.values.map(\.deadline).min())
      }
      switch step {
      case .stop:
        stopChild()
        finish()
        return
      case .end:
        finish()
        return
      case .spawn:
        spawnChild()
      case .wait(let deadline):
        if child != nil && writeOffset < writeBuffer.count { flushWrites() }
        waitForEvents(deadline: child == nil ? restartAt : deadline)
        if child != nil { checkDeadlines() }
      }
    }
  }

  /// Marks the thread as ended.
  private func finish() {
    connection.state.withLock { state in
      if state.phase == .stopping { state.phase = .stopped }
      state.loopRunning = false
    }
    connection.stopped.signal()
  }

  // MARK: - Starting

  private func spawnChild() {
    let manifest = connection.manifest
    let (options, purpose) = connection.state.withLock { state in
      (state.options, state.phase == .starting ? ExecState.Pending.Purpose.start : .restart)
    }
    switch ChildProcess.spawn(
      executable: manifest.executable, arguments: manifest.arguments, environment: environment,
      directory: manifest.directory)
    {
    case .failure(let error):
      restartAt = nil
      fail(error.description)
    case .success(let started):
      child = started
      reaped = false
      restartAt = nil
      let deadline = ExecClock.now() + timeout
      writeBuffer = connection.state.withLock { state in
        state.enqueue(.describe(purpose, options: options), deadline: deadline, waiter: nil) { id in
          ExecMessage.describe(id: id, options: options)
        }
        defer { state.outgoing.removeAll(keepingCapacity: true) }
        return state.outgoing
      }
      writeOffset = 0
      logger.debug("plugin \(name): started \(manifest.executable) (pid \(started.pid))")
    }
  }

  /// usagectx's environment with the manifest's `env` on top, as `NAME=value` entries.
  private static func environment(adding extra: [String: String]) -> [String] {
    var result: [String] = []
    var index = 0
    while let entry = environ[index] {
      let text = String(cString: entry)
      let key = String(text.prefix { $0 != "=" })
      if extra[key] == nil { result.append(text) }
      index += 1
    }
    for (key, value) in extra.sorted(by: { $0.key < $1.key }) { result.append("\(key)=\(value)") }
    return result
  }

  // MARK: - Waiting

  private func waitForEvents(deadline: Int64?) {
    var descriptors = [pollfd(fd: connection.wakePipe[0], events: Int16(POLLIN), revents: 0)]
    var outputIndex = -1
    var errorsIndex = -1
    var inputIndex = -1
    if let child {
      if child.errors >= 0 {
        errorsIndex = descriptors.count
        descriptors.append(pollfd(fd: child.errors, events: Int16(POLLIN), revents: 0))
      }
      if child.output >= 0 {
        outputIndex = descriptors.count
        descriptors.append(pollfd(fd: child.output, events: Int16(POLLIN), revents: 0))
      }
      if child.input >= 0 && writeOffset < writeBuffer.count {
        inputIndex = descriptors.count
        descriptors.append(pollfd(fd: child.input, events: Int16(POLLOUT), revents: 0))
      }
    }
    let timeout = deadline.map { Int32(clamping: max(0, $0 - ExecClock.now() + 1)) } ?? -1
    guard poll(&descriptors, nfds_t(descriptors.count), timeout) > 0 else { return }
    if descriptors[0].revents != 0 { drainWakePipe() }
    if errorsIndex >= 0 && descriptors[errorsIndex].revents != 0 { readErrors() }
    if inputIndex >= 0 && descriptors[inputIndex].revents != 0 && child != nil { flushWrites() }
    if outputIndex >= 0 && descriptors[outputIndex].revents != 0 && child != nil { readOutput() }
  }

  private func drainWakePipe() {
    var bytes = [UInt8](repeating: 0, count: 64)
    while read(connection.wakePipe[0], &bytes, bytes.count) > 0 {}
  }

  /// Fails the child when a request's deadline has passed.
  private func checkDeadlines() {
    let now = ExecClock.now()
    let late = connection.state.withLock { state in
      state.pending.values.filter { $0.deadline <= now }.min { $0.deadline < $1.deadline }?.method
    }
    if let late { fail("did not answer \(late) within \(timeout) ms") }
  }

  // MARK: - Writing

  /// Writes as much of the buffer as the pipe takes now.
  private func flushWrites() {
    guard let fd = child?.input, fd >= 0 else { return }
    while writeOffset < writeBuffer.count {
      let written = writeBuffer.withUnsafeBytes { bytes in
        write(fd, bytes.baseAddress! + writeOffset, bytes.count - writeOffset)
      }
      if written > 0 {
        writeOffset += written
        continue
      }
      if written < 0 && errno == EINTR { continue }
      if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      childEnded(hint: "closed its stdin")
      return
    }
    writeBuffer.removeAll(keepingCapacity: true)
    writeOffset = 0
  }

  // MARK: - Reading

  private func readOutput() {
    for _ in 0..<16 {
      guard let fd = child?.output, fd >= 0 else { return }
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count > 0 {
        chunk.withUnsafeBytes { output.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        while child != nil, let event = output.next() {
          switch event {
          case .line(let line):
            handleLine(line)
          case .tooLong:
            fail("wrote a line longer than \(Self.maxLineBytes) bytes")
          }
        }
        continue
      }
      if count < 0 && errno == EINTR { continue }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      childEnded(hint: "closed its stdout")
      return
    }
  }

  /// Logs what the child wrote on stderr, one log line per line, prefixed with the plugin's name.
  private func readErrors() {
    for _ in 0..<16 {
      guard let fd = child?.errors, fd >= 0 else { return }
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count > 0 {
        chunk.withUnsafeBytes { errors.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        while case .line(let line)? = errors.next() { logStderr(line) }
        continue
      }
      if count < 0 && errno == EINTR { continue }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      if let rest = errors.finish() { logStderr(rest) }
      child?.closeErrors()
      return
    }
  }

  private func logStderr(_ line: [UInt8]) {
    logger.warning("plugin \(name): \(String(decoding: line, as: UTF8.self))")
  }

  /// Reads and drops what the child writes on stdout (while shutting down).
  private func discardOutput() {
    for _ in 0..<16 {
      guard let fd = child?.output, fd >= 0 else { return }
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count > 0 { continue }
      if count < 0 && errno == EINTR { continue }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      child?.closeOutput()
      return
    }
  }

  // MARK: - Answers

  private func handleLine(_ line: [UInt8]) {
    guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
    let answer: ExecMessage.Answer
    switch ExecMessage.parseAnswer(line) {
    case .failure(let violation): return fail(violation.description)
    case .success(let parsed): answer = parsed
    }
    guard let pending = connection.state.withLock({ $0.pending.removeValue(forKey: answer.id) }) else {
      return fail("answered id \(answer.id), which usagectx is not waiting for")
    }
    switch (pending.kind, answer.outcome) {
    case (.describe(_, let options), .result(let result)):
      switch ExecDescription.parse(result, plugin: name) {
      case .failure(let violation): fail("answered plugin/describe with an invalid result: \(violation)")
      case .success(let description): described(description, options: options, waiter: pending.waiter)
      }
    case (.describe(let purpose, _), .error(let error)):
      switch purpose {
      case .start: fail("refused its options: \(error.message)", refusal: error)
      case .restart: fail("refused its options on restart: \(error.message)")
      case .reconfigure:
        backoff.reset()
        connection.state.withLock { state in state.options = state.describedOptions ?? state.options }
        pending.waiter?.complete(.refused(error))
      }
    case (.fetch(let metric), .result(let result)):
      guard result.objectMembers != nil, let value = result["value"], value.number != nil, let count = value.int,
        count >= 0
      else {
        return fail(
          "answered metric/fetch for \(metric) without a non-negative integer value: \(result.jsonText.prefix(120))")
      }
      backoff.reset()
      pending.waiter?.complete(.value(count))
    case (.fetch, .error(let error)):
      backoff.reset()
      pending.waiter?.complete(.refused(error))
    case (.report(let metric, let seq), let outcome):
      let settled: ReportOutcome
      switch outcome {
      case .result(let result) where result.objectMembers == nil:
        let problem = "answered metric/report with \(result.jsonText.prefix(120)), not an object"
        let lost = ExecState.Settled(metric: metric, seq: seq, outcome: .lost("exec plugin \(name) \(problem)"))
        connection.settle([lost])
        return fail(problem)
      case .result:
        settled = .accepted
      case .error(let error):
        logger.warning("plugin \(name) refused metric/report for \(metric): \(error.message)")
        settled = .refused(error.message)
      }
      backoff.reset()
      let deadline = ExecClock.now() + timeout
      connection.state.withLock { state in
        state.reportsInFlight = max(0, state.reportsInFlight - 1)
        state.releaseHeldReports(deadline: deadline)
      }
      connection.settle([ExecState.Settled(metric: metric, seq: seq, outcome: settled)])
      pending.waiter?.complete(.done)
    }
  }

  /// A valid description arrived: the plugin is running (again).
  private func described(_ description: ExecDescription, options: ConfigValue, waiter: ExecWaiter?) {
    backoff.reset()
    let deadline = ExecClock.now() + timeout
    let (waiters, previous, restarted) = connection.state.withLock { state in
      let previous = state.description
      let restarted = state.phase == .restarting
      state.description = description
      state.describedOptions = options
      if state.phase == .starting || state.phase == .restarting { state.phase = .running }
      state.releaseHeldReports(deadline: deadline)
      defer { state.startWaiters = [] }
      return (state.startWaiters, previous, restarted)
    }
    if restarted {
      logger.notice("plugin \(name): restarted")
      connection.reportHealth(nil)
      if let previous, previous.metricNames != description.metricNames {
        let now = description.metricNames.joined(separator: ", ")
        let before = previous.metricNames.joined(separator: ", ")
        logger.warning("plugin \(name): now describes metrics \(now) instead of \(before); metrics are fixed")
      }
    }
    for waiting in waiters { waiting.complete(.described(description)) }
    waiter?.complete(.described(description))
  }

  // MARK: - Failing

  /// The child stopped talking (end of stdout, or its stdin closed): reports how it ended, then fails it.
  private func childEnded(hint: String) {
    readErrors()
    let giveUp = ExecClock.now() + Self.exitGraceMilliseconds
    var status = child?.reap(blocking: false)
    while status == nil && ExecClock.now() < giveUp {
      usleep(5_000)
      status = child?.reap(blocking: false)
    }
    if status != nil { reaped = true }
    let waitingFor = connection.state.withLock { state in
      state.pending.min { $0.key < $1.key }?.value.method
    }
    let ending = status.map(ChildProcess.describe(status:)) ?? hint
    fail(ending + (waitingFor.map { " before answering \($0)" } ?? ""))
  }

  /// Kills and reaps the child, fails every request waiting for it, and either schedules a restart (a plugin that
  /// had served) or fails the plugin for good (a first start). `refusal` is what start waiters are told when the
  /// plugin refused its options.
  private func fail(_ reason: String, refusal: ExecMessage.RemoteError? = nil) {
    terminateChild()
    enum Next { case restart, failed, nothing }
    let (next, waiters, lost) = connection.state.withLock { state -> (Next, [ExecWaiter], [ExecState.Settled]) in
      let waiters = state.pending.values.compactMap(\.waiter) + state.startWaiters
      var lost = state.loseReportsInFlight("exec plugin \(name) failed before acknowledging the report: \(reason)")
      state.pending.removeAll()
      state.outgoing.removeAll()
      state.startWaiters = []
      switch state.phase {
      case .starting:
        state.lastError = reason
        state.phase = .failed
        // Nothing will send the reports held since the start.
        lost += state.loseHeldReports("exec plugin \(name) failed to start: \(reason)")
        return (.failed, waiters, lost)
      case .running, .restarting:
        state.lastError = reason
        state.phase = .restarting
        return (.restart, waiters, lost)
      default:
        return (.nothing, waiters, lost)
      }
    }
    switch next {
    case .restart:
      let delay = backoff.nextDelay()
      restartAt = ExecClock.now() + delay
      logger.error("plugin \(name) \(reason); restarting in \(delay) ms")
      connection.reportHealth("plugin \(name) \(reason); restarting")
    case .failed:
      logger.debug("plugin \(name) failed to start: \(reason)")
    case .nothing:
      break
    }
    if !lost.isEmpty {
      logger.warning("plugin \(name): \(lost.count) metric/report not acknowledged; may be lost")
    }
    for waiter in waiters { waiter.complete(refusal.map(ExecOutcome.refused) ?? .failed(reason)) }
    connection.settle(lost)
  }

  /// Kills the child's process group and the child, reaps it, logs its last stderr lines and closes the pipes.
  private func terminateChild() {
    guard let current = child else { return }
    current.signalGroup(SIGKILL)
    if !reaped {
      current.signalProcess(SIGKILL)
      _ = current.reap(blocking: true)
    }
    readErrors()
    if let rest = errors.finish() { logStderr(rest) }
    child?.closeAll()
    child = nil
    reaped = false
    writeBuffer.removeAll()
    writeOffset = 0
    output = ExecLineBuffer(maxLineBytes: Self.maxLineBytes, splitLongLines: false)
  }

  // MARK: - Shutting down

  /// Fails waiting requests, writes the reports still queued (if the child is running; up to 0.5 s), then stops
  /// the child: stdin closed, 1 s to exit, SIGTERM, 1 s, SIGKILL; reaps it.
  private func stopChild() {
    let running = child != nil
    let unanswered = "exec plugin \(name) was stopped before acknowledging the report"
    let (waiters, unsent, lost) = connection.state.withLock { state in
      let waiters = state.pending.values.compactMap(\.waiter) + state.startWaiters
      // Answers are not read any more: what is in flight, or written now, is never acknowledged.
      var lost = state.loseReportsInFlight(unanswered)
      var unsent = state.heldReports.count
      if running && state.description != nil {
        for report in state.heldReports {
          let id = state.nextID
          state.nextID += 1
          state.outgoing += ExecMessage.report(
            id: id, metric: report.metric, seq: report.seq, delta: report.delta, key: report.key)
        }
        unsent = 0
        lost += state.loseHeldReports(unanswered)
      } else {
        lost += state.loseHeldReports("exec plugin \(name) was stopped before the report was sent")
      }
      state.pending.removeAll()
      state.startWaiters = []
      if running { writeBuffer += state.outgoing }
      state.outgoing.removeAll()
      return (waiters, unsent, lost)
    }
    for waiter in waiters { waiter.complete(.failed("is stopped")) }
    if unsent > 0 { logger.warning("plugin \(name): stopped with \(unsent) metric/report not sent") }
    connection.settle(lost)
    guard child != nil else { return }
    finishWriting(milliseconds: Self.finalWriteMilliseconds)
    child?.closeInput()
    if !waitForExit(milliseconds: Self.shutdownGraceMilliseconds) {
      child?.signalGroup(SIGTERM)
      child?.signalProcess(SIGTERM)
      if !waitForExit(milliseconds: Self.shutdownGraceMilliseconds) {
        logger.warning("plugin \(name): did not stop on SIGTERM; killing it")
      }
    }
    terminateChild()
  }

  /// Writes what is left in the buffer, waiting up to `milliseconds` for the child to read it (and reading its
  /// output meanwhile, so that neither side blocks the other).
  private func finishWriting(milliseconds: Int64) {
    let deadline = ExecClock.now() + milliseconds
    while let input = child?.input, input >= 0, writeOffset < writeBuffer.count {
      flushWrites()
      let remaining = deadline - ExecClock.now()
      guard writeOffset < writeBuffer.count, child != nil, remaining > 0 else { break }
      var descriptors = [pollfd(fd: input, events: Int16(POLLOUT), revents: 0)]
      if let fd = child?.errors, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if let fd = child?.output, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if poll(&descriptors, nfds_t(descriptors.count), Int32(min(remaining, 20))) > 0 {
        readErrors()
        discardOutput()
      }
    }
    if writeOffset < writeBuffer.count {
      logger.warning("plugin \(name): stopped before reading \(writeBuffer.count - writeOffset) bytes of requests")
    }
  }

  /// Waits up to `milliseconds` for the child to exit (reaping it), logging its stderr meanwhile.
  private func waitForExit(milliseconds: Int64) -> Bool {
    guard child != nil else { return true }
    let deadline = ExecClock.now() + milliseconds
    while true {
      if child?.reap(blocking: false) != nil {
        reaped = true
        return true
      }
      let remaining = deadline - ExecClock.now()
      if remaining <= 0 { return false }
      var descriptors: [pollfd] = []
      if let fd = child?.errors, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if let fd = child?.output, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      let slice = Int32(min(remaining, 20))
      if descriptors.isEmpty {
        usleep(UInt32(slice) * 1000)
      } else if poll(&descriptors, nfds_t(descriptors.count), slice) > 0 {
        readErrors()
        discardOutput()
      }
    }
  }
}
