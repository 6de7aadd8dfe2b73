public import Logging
import CLinux
import Glibc
import Synchronization

/// The server's loop: reads the client's bytes, detects the framing, frames, dispatches, and writes answers.
///
/// One thread runs everything that touches the session (framer, dispatcher, output, the owner's callbacks); other
/// threads hand it work through ``post(_:)``. Input is read in large chunks and everything available is processed
/// before the answers are written with one write per burst. The loop ends at end of input (once the requests
/// answered later have been answered), on SIGTERM/SIGINT, on the `exit` notification, when the watched client
/// process dies, or when the client stops reading; work already read is finished and the output flushed first.
public final class StdioServer {
  /// Tunables, with the defaults a sidecar wants.
  public struct Configuration: Sendable {
    /// Largest message accepted; larger ones are refused before their bytes are buffered.
    public var maxMessageBytes = 1 << 20
    /// How long a half-received message may sit without progress before it is dropped.
    public var partialFrameTimeout: Duration = .seconds(30)
    /// Bytes asked for per read.
    public var readChunkBytes = 64 * 1024
    /// Output is written early when this much is waiting within one burst.
    public var flushThresholdBytes = 256 * 1024
    /// Input read in one burst at most, before posted work and timers get their turn.
    public var maxBurstBytes = 1 << 20
    /// A client process to watch: when it is gone, the server exits.
    public var watchedProcess: Int32?
    /// How often the watched process is checked.
    public var processCheckInterval: Duration = .seconds(1)
    /// The defaults above. The framing is not configured: it is detected from the client's first bytes.
    public init() {}
  }

  public let dispatcher: Dispatcher
  public var output: OutputChannel { dispatcher.output }
  private let input: Int32
  private var configuration: Configuration
  private let logger: Logger
  private var framer: (any MessageFramer)?
  private var undecided: [UInt8] = []
  private var readBuffer: UnsafeMutableRawBufferPointer
  /// Where other threads hand work to the loop.
  public let jobs = JobQueue()
  private let signalFD: Int32
  private let clock = ContinuousClock()
  private var lastInputProgress: ContinuousClock.Instant
  private var nextProcessCheck: ContinuousClock.Instant

  /// Called on the loop thread right before every write of the output: at the end of every pass of the loop, when the
  /// output reaches ``Configuration/flushThresholdBytes`` in the middle of a burst, and once more after ``onStop`` when
  /// the session ends. Called even when nothing is buffered. The owner sends coalesced notifications here, and may
  /// settle deferred requests (``Dispatcher/resolve(_:_:)``, ``Dispatcher/reject(_:_:)``) whose answers then go out
  /// with this write.
  public var onBurstEnd: (() -> Void)?
  /// When the owner next needs ``onTimer`` to run, if ever.
  public var nextTimerDeadline: (() -> ContinuousClock.Instant?)?
  /// Called on the loop thread once the deadline from ``nextTimerDeadline`` has passed.
  public var onTimer: (() -> Void)?
  /// Called on the loop thread after the loop ends, before the requests still waiting are rejected
  /// (``Dispatcher/rejectOutstanding(_:)``) and before the final flush.
  public var onStop: (() -> Void)?

  /// Creates a server reading `input`. SIGTERM and SIGINT are blocked on the calling thread and delivered to the
  /// loop instead: create the server before starting other threads, so they inherit the mask.
  public init(input: Int32, dispatcher: Dispatcher, configuration: Configuration = Configuration(), logger: Logger) {
    self.input = input
    self.dispatcher = dispatcher
    self.configuration = configuration
    self.logger = logger
    self.readBuffer = .allocate(byteCount: max(4096, configuration.readChunkBytes), alignment: 16)
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGTERM)
    sigaddset(&signals, SIGINT)
    pthread_sigmask(SIG_BLOCK, &signals, nil)
    self.signalFD = signalfd(-1, &signals, Int32(SFD_NONBLOCK | SFD_CLOEXEC))
    signal(SIGPIPE, SIG_IGN)
    let now = clock.now
    self.lastInputProgress = now
    self.nextProcessCheck = now
  }

  deinit {
    readBuffer.deallocate()
    if signalFD >= 0 { close(signalFD) }
    if processFD >= 0 { close(processFD) }
  }

  /// Starts watching a client process (from `initialize.processId`): when it is gone, the server exits.
  public func watch(process pid: Int32) {
    configuration.watchedProcess = pid
    if processFD >= 0 { close(processFD) }
    // A pidfd refers to this process and no other: it reads as ended when the process exits, even while it waits
    // to be reaped (a zombie, which `kill(pid, 0)` still finds) and whatever process later gets the same pid.
    processFD = pidfd_open(pid, 0)
    nextProcessCheck = clock.now
  }

  /// The watched client process's pidfd (`-1` when none is watched or the kernel has no pidfds).
  private var processFD: Int32 = -1

  /// Whether the watched process has ended: its pidfd is readable, or (without one) no process has its pid.
  private func watchedProcessEnded(_ pid: Int32) -> Bool {
    guard processFD >= 0 else { return kill(pid, 0) == -1 && errno == ESRCH }
    var descriptor = pollfd(fd: processFD, events: Int16(POLLIN), revents: 0)
    return poll(&descriptor, 1, 0) == 1 && descriptor.revents & Int16(POLLIN) != 0
  }

  /// Other descriptors the loop polls beside its input (a database connection's socket), each with what to run when it
  /// is readable (or hung up). Watching a descriptor again replaces its handler.
  private var watched: [(descriptor: Int32, onReadable: () -> Void)] = []

  /// Polls `descriptor` in the loop from now on and runs `onReadable` on the loop thread whenever it is readable.
  public func watch(descriptor: Int32, onReadable: @escaping () -> Void) {
    unwatch(descriptor: descriptor)
    watched.append((descriptor, onReadable))
  }

  /// Stops polling `descriptor`.
  public func unwatch(descriptor: Int32) {
    watched.removeAll { $0.descriptor == descriptor }
  }

  /// Runs `job` on the loop thread soon. Safe from any thread.
  public func post(_ job: @escaping JobQueue.Job) {
    jobs.post(job)
  }

  /// Runs until the session ends; returns the process exit code.
  public func run() -> Int32 {
    var inputOpen = true
    var stopping = false
    while true {
      if dispatcher.exitCode != nil || stopping || output.isClosed { break }
      // At the end of input, requests answered later are still answered before the session ends (a script that
      // pipes in `usage/refresh` gets its answer); nothing else keeps it open.
      if !inputOpen && dispatcher.outstandingCount == 0 { break }
      var descriptors = [
        pollfd(fd: inputOpen ? input : -1, events: Int16(POLLIN), revents: 0),
        pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0),
        pollfd(fd: jobs.wakeFD, events: Int16(POLLIN), revents: 0),
      ]
      let others = watched
      for other in others { descriptors.append(pollfd(fd: other.descriptor, events: Int16(POLLIN), revents: 0)) }
      let ready = poll(&descriptors, nfds_t(descriptors.count), pollTimeout())
      if ready < 0 && errno != EINTR {
        logger.error("poll failed: errno \(errno)")
        break
      }
      if descriptors[1].revents != 0 {
        drainSignals()
        stopping = true
      }
      if descriptors[2].revents != 0 { runPostedJobs() }
      for (position, other) in others.enumerated() where descriptors[3 + position].revents != 0 { other.onReadable() }
      if descriptors[0].revents != 0 { inputOpen = readBurst() }
      checkPartialFrame()
      checkWatchedProcess()
      runTimerIfDue()
      endBurst()
    }
    onStop?()
    dispatcher.rejectOutstanding("the session ended before the answer was ready")
    endBurst()
    if output.isClosed { logger.info("the client stopped reading; exiting") }
    return dispatcher.exitCode ?? 0
  }

  // MARK: - Reading

  /// Reads and processes what is available, up to ``Configuration/maxBurstBytes``, so that posted results and timers
  /// get their turn even while a client writes without pause. Returns `false` at end of input.
  private func readBurst() -> Bool {
    var taken = 0
    while true {
      let count = read(input, readBuffer.baseAddress, readBuffer.count)
      if count < 0 {
        if errno == EINTR { continue }
        if errno == EAGAIN { return true }
        logger.error("reading input failed: errno \(errno)")
        finishInput()
        return false
      }
      if count == 0 {
        finishInput()
        return false
      }
      lastInputProgress = clock.now
      feed(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
      taken += count
      if dispatcher.exitCode != nil { return true }
      if output.pendingByteCount >= configuration.flushThresholdBytes {
        endBurst()
        if output.isClosed { return true }
      }
      // Enough for one burst: the loop runs jobs and timers, then comes back for the rest.
      if taken >= configuration.maxBurstBytes { return true }
      var descriptor = pollfd(fd: input, events: Int16(POLLIN), revents: 0)
      if poll(&descriptor, 1, 0) <= 0 || descriptor.revents & Int16(POLLIN) == 0 {
        // Nothing more right now (or only a hang-up, which the next read reports as end of input).
        if descriptor.revents & Int16(POLLHUP) == 0 { return true }
      }
    }
  }

  private func feed(_ bytes: UnsafeRawBufferPointer) {
    if framer == nil {
      undecided.append(contentsOf: bytes)
      let framing = undecided.withUnsafeBytes { FramingDetector.detect($0, atEnd: false) }
      guard let framing else { return }
      startFraming(framing)
      return
    }
    framer!.append(bytes)
    drainFramer()
  }

  private func startFraming(_ framing: Framing) {
    logger.debug("framing: \(framing.rawValue)")
    output.framing = framing
    switch framing {
    case .newline: framer = NewlineFramer(maxMessageBytes: configuration.maxMessageBytes)
    case .contentLength: framer = ContentLengthFramer(maxMessageBytes: configuration.maxMessageBytes)
    }
    let pending = undecided
    undecided = []
    pending.withUnsafeBytes { framer!.append($0) }
    drainFramer()
  }

  private func drainFramer() {
    while dispatcher.exitCode == nil, let event = framer?.nextEvent() {
      handle(event)
    }
  }

  private func handle(_ event: FramerEvent) {
    switch event {
    case .frame(let frame):
      let dispatcher = self.dispatcher
      let valid = framer!.withFrameBytes(frame) { dispatcher.handleMessage($0) }
      if !valid { framer!.rescanLastFrame() }
    case .error(let error):
      dispatcher.handleFramingError(error)
    }
  }

  private func finishInput() {
    if framer == nil {
      if undecided.isEmpty { return }
      let framing = undecided.withUnsafeBytes { FramingDetector.detect($0, atEnd: true) } ?? .newline
      startFraming(framing)
    }
    drainFramer()
    while dispatcher.exitCode == nil, let event = framer?.finish() {
      handle(event)
      drainFramer()
    }
  }

  // MARK: - Time and events

  private func pollTimeout() -> Int32 {
    let now = clock.now
    var deadline: ContinuousClock.Instant? = nil
    func consider(_ instant: ContinuousClock.Instant?) {
      guard let instant else { return }
      deadline = deadline.map { min($0, instant) } ?? instant
    }
    if framer?.hasPartialFrame == true { consider(lastInputProgress + configuration.partialFrameTimeout) }
    if configuration.watchedProcess != nil { consider(nextProcessCheck) }
    consider(nextTimerDeadline?())
    guard let deadline else { return -1 }
    if deadline <= now { return 0 }
    let wait = now.duration(to: deadline)
    let milliseconds = wait.components.seconds * 1000 + wait.components.attoseconds / 1_000_000_000_000_000 + 1
    return Int32(clamping: milliseconds)
  }

  private func checkPartialFrame() {
    guard framer?.hasPartialFrame == true,
      clock.now >= lastInputProgress + configuration.partialFrameTimeout
    else { return }
    if let event = framer!.abandonPartialFrame() { handle(event) }
    lastInputProgress = clock.now
    drainFramer()
  }

  private func checkWatchedProcess() {
    guard let pid = configuration.watchedProcess, clock.now >= nextProcessCheck else { return }
    nextProcessCheck = clock.now + configuration.processCheckInterval
    if watchedProcessEnded(pid) {
      logger.notice("client process \(pid) is gone; exiting")
      dispatcher.requestExit(code: 1)
    }
  }

  private func runTimerIfDue() {
    guard let deadline = nextTimerDeadline?(), deadline <= clock.now else { return }
    onTimer?()
  }

  private func runPostedJobs() {
    for job in jobs.take() { job() }
  }

  private func drainSignals() {
    var info = signalfd_siginfo()
    while read(signalFD, &info, MemoryLayout<signalfd_siginfo>.size) > 0 {
      logger.info("received signal \(info.ssi_signo); finishing")
    }
  }

  private func endBurst() {
    onBurstEnd?()
    output.flush()
  }
}
