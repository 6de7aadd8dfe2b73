import Dispatch
import Glibc
import JSON
import JSONRPC
import Logging
import RefreshScheduler
import Synchronization
import UsageCore

/// The I/O thread of one exec plugin: the only code that touches the child process and its pipes.
///
/// Each turn takes the requests callers queued, writes them (without blocking: the child's stdin is non-blocking and
/// unwritten bytes wait for `POLLOUT`), and polls the child's stdout and stderr, the wake pipe, and the nearest
/// deadline. Answers complete the callers' waiters; stderr lines go to the log. A child that exits, closes its
/// pipes, misses a deadline or writes anything but valid answers is killed, reaped, and — if it had served before —
/// started again after a backoff delay. Answers are handled in `ExecLoop+Answers.swift`, failures and shutdown in
/// `ExecLoop+Stopping.swift`.
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

  let connection: ExecConnection
  var child: ChildProcess?
  /// Whether the current child has been reaped (its pid must not be signalled any more).
  var reaped = false
  var writeBuffer: [UInt8] = []
  var writeOffset = 0
  /// The child's stdout, framed as JSON-RPC lines by the engine's framer.
  var output = NewlineFramer(maxMessageBytes: ExecLoop.maxLineBytes)
  /// The child's stderr, one log line per line.
  var errors = NewlineFramer(maxMessageBytes: ExecLoop.maxLogLineBytes)
  /// When the next child is started, while restarting.
  var restartAt: Int64?
  /// The delays between restarts: the refresh scheduler's backoff (exponential, full jitter).
  let backoff: Backoff
  /// Consecutive failures since the last valid answer.
  var failures = 0
  var random = SystemRandomNumberGenerator()
  private let environment: [String]
  private var chunk = [UInt8](repeating: 0, count: 65_536)

  init(connection: ExecConnection) {
    self.connection = connection
    backoff = Backoff(
      base: connection.manifest.restartBaseMilliseconds, cap: connection.manifest.restartCapMilliseconds)
    environment = Self.environment(adding: connection.manifest.environment)
  }

  var name: String { connection.manifest.name }
  var logger: Logger { connection.logger }
  var timeout: Int64 { connection.timeout }

  /// A valid answer came: the next failure waits the shortest delay again.
  func resetBackoff() { failures = 0 }

  /// Counts a failure and returns how long to wait before the next start.
  func nextRestartDelay() -> Int64 {
    defer { failures += 1 }
    return max(1, backoff.delay(attempt: failures, using: &random))
  }

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
        let version = manifest.protocolVersion
        state.enqueue(.describe(purpose, options: options), deadline: deadline, waiter: nil) { id in
          ExecMessage.describe(id: id, options: options, version: version)
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
  func checkDeadlines() {
    let now = ExecClock.now()
    let late = connection.state.withLock { state in
      state.pending.values.filter { $0.deadline <= now }.min { $0.deadline < $1.deadline }?.method
    }
    if let late { fail("did not answer \(late) within \(timeout) ms") }
  }

  // MARK: - Writing

  /// Writes as much of the buffer as the pipe takes now.
  func flushWrites() {
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
        while child != nil, let event = output.nextEvent() {
          switch event {
          case .frame(let frame):
            handleLine(output.withFrameBytes(frame) { Array($0) })
          case .error:
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
  func readErrors() {
    for _ in 0..<16 {
      guard let fd = child?.errors, fd >= 0 else { return }
      let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
      if count > 0 {
        chunk.withUnsafeBytes { errors.append(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        while let event = errors.nextEvent() { logStderr(event) }
        continue
      }
      if count < 0 && errno == EINTR { continue }
      if count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { return }
      finishErrors()
      child?.closeErrors()
      return
    }
  }

  /// Logs the last stderr line, unfinished, and empties the framer.
  func finishErrors() {
    if let event = errors.finish() { logStderr(event) }
    errors = NewlineFramer(maxMessageBytes: Self.maxLogLineBytes)
  }

  private func logStderr(_ event: FramerEvent) {
    switch event {
    case .frame(let frame):
      let text = errors.withFrameBytes(frame) { String(decoding: $0, as: UTF8.self) }
      logger.warning("plugin \(name): \(text)")
    case .error(let error):
      logger.warning(
        "plugin \(name): (a stderr line of \(error.byteCount ?? 0)+ bytes, longer than 64 KiB, not logged)")
    }
  }

  /// Reads and drops what the child writes on stdout (while shutting down).
  func discardOutput() {
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
}
