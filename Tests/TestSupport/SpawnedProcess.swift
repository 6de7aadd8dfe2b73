import Foundation
import Glibc

/// A program the tests run (the built `usagectx`, `python3`, `cc`, `sh`, `sleep`), started with `posix_spawn`.
///
/// Foundation's `Process` is not used: on this toolchain its `run()` can read past a `dirent` while looking for open
/// descriptors and crash the whole test run (swift-corelibs-foundation, fixed after Swift 6.3.1).
///
/// The child starts clean, whatever the test process's state: an empty signal mask and default dispositions for
/// every signal (parts of the test process block SIGTERM and ignore SIGPIPE, which a child would otherwise inherit),
/// and no descriptors but 0, 1 and 2. The test's ends of pipes are close-on-exec from the moment they exist
/// (`pipe2`), so a child started at the same moment by a test running in parallel never holds one: a write end
/// leaked into another child would keep this child's stdin open after ``PipeEnd/close()``.
///
/// The child stays in the test process's process group, so an interrupted test run takes it along. A handle that goes
/// away while its child runs kills it (SIGKILL) and reaps it; no child outlives its handle or is left a zombie. One
/// thread at a time.
public final class SpawnedProcess {
  /// Where one of the child's standard streams goes.
  public enum Stream: Sendable {
    /// A new pipe; the test's end is ``SpawnedProcess/stdin``, ``SpawnedProcess/stdout`` or
    /// ``SpawnedProcess/stderr``.
    case pipe
    /// `/dev/null`.
    case null
    /// The test process's own stream of the same number.
    case inherit
    /// A copy of this descriptor of the test process (a file opened for writing, say); the caller keeps it.
    case fileDescriptor(Int32)
  }

  /// How the child ended.
  public enum Termination: Equatable, Sendable {
    /// It exited with this status.
    case exited(Int32)
    /// This signal ended it.
    case signalled(Int32)

    /// The exit status, `nil` if a signal ended it.
    public var exitStatus: Int32? {
      guard case .exited(let status) = self else { return nil }
      return status
    }

    /// The signal that ended it, `nil` if it exited.
    public var signal: Int32? {
      guard case .signalled(let signal) = self else { return nil }
      return signal
    }

    /// The exit status, or the number of the signal that ended it (what `Process.terminationStatus` reports).
    public var code: Int32 {
      switch self {
      case .exited(let status): return status
      case .signalled(let signal): return signal
      }
    }

    init(waitStatus: Int32) {
      let signal = waitStatus & 0x7f
      self = signal == 0 ? .exited((waitStatus >> 8) & 0xff) : .signalled(signal)
    }
  }

  /// No executable of that name in any directory of `PATH`.
  public struct NotFound: Error, CustomStringConvertible {
    public var name: String
    public var path: String
    public var description: String { "\(name) not found in PATH \(path)" }
  }

  /// The child's process id.
  public let pid: Int32
  /// The write end of the child's stdin when it is a ``Stream/pipe``.
  public let stdin: PipeEnd?
  /// The read end of the child's stdout when it is a ``Stream/pipe``.
  public let stdout: PipeEnd?
  /// The read end of the child's stderr when it is a ``Stream/pipe``.
  public let stderr: PipeEnd?
  /// How the child ended, once it has been reaped (by ``wait()``, ``wait(timeout:)``, ``isRunning`` or
  /// ``end(grace:)``).
  public private(set) var termination: Termination?

  /// Starts `executable` with `arguments` (not counting the program's name, which is `executable` as given).
  ///
  /// - Parameters:
  ///   - executable: a path, or a name without `/` looked up in the directories of the child's `PATH`.
  ///   - environment: the child's whole environment; `nil` for the test process's own.
  ///   - directory: the child's working directory; `nil` for the test process's.
  public init(
    _ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil, directory: String? = nil,
    stdin: Stream = .inherit, stdout: Stream = .inherit, stderr: Stream = .inherit
  ) throws {
    let environment = environment ?? ProcessInfo.processInfo.environment
    let path = try Self.resolve(executable, path: environment["PATH"])

    var actions = posix_spawn_file_actions_t()
    try Self.check("posix_spawn_file_actions_init", posix_spawn_file_actions_init(&actions))
    defer { posix_spawn_file_actions_destroy(&actions) }
    // The child's ends of pipes and copies of given descriptors: closed here once the child has them.
    var childEnds: [Int32] = []
    defer { for fd in childEnds { _ = close(fd) } }
    var testEnds: [PipeEnd?] = [nil, nil, nil]
    for (target, stream) in [stdin, stdout, stderr].enumerated() {
      let target = Int32(target)
      switch stream {
      case .inherit:
        continue
      case .null:
        let flags = target == STDIN_FILENO ? O_RDONLY : O_WRONLY
        try Self.check(
          "posix_spawn_file_actions_addopen", posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0))
      case .fileDescriptor(let fd):
        // A copy above 2, so that no stream's source is overwritten by another stream's dup2 before it is used.
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { throw SystemCallError("fcntl F_DUPFD_CLOEXEC \(fd)", code: errno) }
        childEnds.append(copy)
        try Self.check("posix_spawn_file_actions_adddup2", posix_spawn_file_actions_adddup2(&actions, copy, target))
      case .pipe:
        let ends = try Self.makePipe()
        let (childEnd, testEnd) = target == STDIN_FILENO ? (ends.read, ends.write) : (ends.write, ends.read)
        childEnds.append(childEnd)
        testEnds[Int(target)] = PipeEnd(fileDescriptor: testEnd)
        try Self.check(
          "posix_spawn_file_actions_adddup2", posix_spawn_file_actions_adddup2(&actions, childEnd, target))
      }
    }
    // Whatever else the test process has open without close-on-exec (Foundation's pipes, SQLite's files) stays here.
    if let addCloseFrom = GNUExtensions.addCloseFrom {
      try Self.check("posix_spawn_file_actions_addclosefrom_np", addCloseFrom(&actions, 3))
    }
    if let directory {
      guard let addChangeDirectory = GNUExtensions.addChangeDirectory else {
        throw SystemCallError("posix_spawn_file_actions_addchdir_np", code: ENOSYS)
      }
      try Self.check("posix_spawn_file_actions_addchdir_np \(directory)", addChangeDirectory(&actions, directory))
    }

    var attributes = posix_spawnattr_t()
    try Self.check("posix_spawnattr_init", posix_spawnattr_init(&attributes))
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    try Self.check("posix_spawnattr_setsigmask", posix_spawnattr_setsigmask(&attributes, &empty))
    var defaults = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    try Self.check("posix_spawnattr_setsigdefault", posix_spawnattr_setsigdefault(&attributes, &defaults))
    try Self.check(
      "posix_spawnattr_setflags",
      posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))

    let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    // posix_spawn returns the error number itself, also when exec failed in the child (glibc reports that back).
    try Self.check("posix_spawn \(path)", posix_spawn(&pid, path, &actions, &attributes, argv, envp))
    self.pid = pid
    self.stdin = testEnds[0]
    self.stdout = testEnds[1]
    self.stderr = testEnds[2]
  }

  deinit { end() }

  /// Whether the child still runs; reaps it (setting ``termination``) if it has ended. `false` also when it cannot be
  /// waited for (reaped elsewhere).
  public var isRunning: Bool {
    do {
      return try reap(blocking: false) == nil
    } catch {
      return false
    }
  }

  /// Waits for the child to end and reaps it.
  @discardableResult
  public func wait() throws -> Termination {
    guard let termination = try reap(blocking: true) else { throw SystemCallError("waitpid \(pid)", code: EINTR) }
    return termination
  }

  /// Waits up to `timeout` seconds for the child to end; `nil` if it still runs then.
  public func wait(timeout: Double) throws -> Termination? {
    let deadline = ContinuousClock.now + .seconds(max(0, timeout))
    while true {
      if let termination = try reap(blocking: false) { return termination }
      if ContinuousClock.now >= deadline { return nil }
      usleep(2_000)
    }
  }

  /// Sends `signal` to the child. Does nothing once it has been reaped: its pid may then be another process's.
  public func kill(_ signal: Int32) {
    guard termination == nil else { return }
    _ = Glibc.kill(pid, signal)
  }

  /// Asks the child to end (SIGTERM).
  public func terminate() { kill(SIGTERM) }

  /// Ends the child if it still runs and reaps it: SIGTERM and up to `grace` seconds to exit, then SIGKILL (at once
  /// when `grace` is 0). Returns how it ended, `nil` if it could not be waited for (reaped elsewhere).
  @discardableResult
  public func end(grace: Double = 0) -> Termination? {
    if let termination { return termination }
    do {
      if grace > 0 {
        terminate()
        if let termination = try wait(timeout: grace) { return termination }
      }
      kill(SIGKILL)
      return try wait()
    } catch {
      return nil
    }
  }

  /// The child's wait status once it has ended (recorded in ``termination``); `nil` while it runs (never when
  /// `blocking`).
  private func reap(blocking: Bool) throws -> Termination? {
    if let termination { return termination }
    var status: Int32 = 0
    while true {
      let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
      if result == pid {
        let ended = Termination(waitStatus: status)
        termination = ended
        return ended
      }
      if result == 0 { return nil }
      if errno == EINTR { continue }
      throw SystemCallError("waitpid \(pid)", code: errno)
    }
  }

  /// `name` itself when it holds a `/`, else the first executable file of that name in `path`'s directories (the
  /// test process's `PATH` when the child's environment has none).
  static func resolve(_ name: String, path: String?) throws -> String {
    if name.contains("/") { return name }
    let path = path ?? ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for directory in path.split(separator: ":", omittingEmptySubsequences: true) {
      let candidate = "\(directory)/\(name)"
      var info = stat()
      if stat(candidate, &info) == 0 && info.st_mode & S_IFMT == S_IFREG && access(candidate, X_OK) == 0 {
        return candidate
      }
    }
    throw NotFound(name: name, path: path)
  }

  /// A pipe whose ends are close-on-exec from the start and above 2 (the test process's standard streams being
  /// closed would otherwise hand out 0, 1 or 2, which the child's dup2 of another stream could overwrite).
  static func makePipe() throws -> (read: Int32, write: Int32) {
    guard let pipe2 = GNUExtensions.pipe2 else { throw SystemCallError("pipe2", code: ENOSYS) }
    var ends: [Int32] = [-1, -1]
    guard pipe2(&ends, O_CLOEXEC) == 0 else { throw SystemCallError("pipe2", code: errno) }
    for index in ends.indices where ends[index] <= STDERR_FILENO {
      let moved = fcntl(ends[index], F_DUPFD_CLOEXEC, 3)
      let reason = errno
      _ = close(ends[index])
      ends[index] = moved
      guard moved >= 0 else {
        for fd in ends where fd >= 0 { _ = close(fd) }
        throw SystemCallError("fcntl F_DUPFD_CLOEXEC", code: reason)
      }
    }
    return (ends[0], ends[1])
  }

  /// Throws for a nonzero error number returned by a `posix_spawn` function.
  private static func check(_ call: String, _ result: Int32) throws {
    guard result == 0 else { throw SystemCallError(call, code: result) }
  }
}
