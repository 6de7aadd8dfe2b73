import CLinux
import Glibc

/// A program started with `posix_spawn`, with pipes on its stdin, stdout and stderr.
///
/// The child starts clean whatever state the host is in: an empty signal mask and default dispositions for every
/// signal (the host blocks SIGTERM and SIGINT and ignores SIGPIPE, which a spawned program would otherwise inherit),
/// no descriptors but 0, 1 and 2, its own process group (so a terminal's Ctrl-C reaches the host, which stops its
/// children itself), and the given working directory. The host's ends of the pipes are non-blocking and
/// close-on-exec.
struct ChildProcess {
  let pid: pid_t
  /// The write end of the child's stdin; -1 once closed.
  private(set) var input: Int32
  /// The read end of the child's stdout; -1 once closed.
  private(set) var output: Int32
  /// The read end of the child's stderr; -1 once closed.
  private(set) var errors: Int32

  /// Why a program could not be started.
  struct SpawnError: Error, CustomStringConvertible {
    let description: String
  }

  /// Starts `executable` (an absolute path) with `arguments` (not counting the program name), `environment`
  /// (`NAME=value` entries) and working `directory`.
  static func spawn(
    executable: String, arguments: [String], environment: [String], directory: String
  ) -> Result<ChildProcess, SpawnError> {
    var pipes: [Int32] = []
    func closeAll() { for fd in pipes { close(fd) } }
    for _ in 0..<3 {
      var ends: [Int32] = [-1, -1]
      guard makePipe(&ends, nonBlocking: false) else {
        let reason = systemError(errno)
        closeAll()
        return .failure(SpawnError(description: "cannot create a pipe: \(reason)"))
      }
      pipes += ends
    }
    // pipes: [stdin read, stdin write, stdout read, stdout write, stderr read, stderr write]
    let childEnds = (input: pipes[0], output: pipes[3], errors: pipes[5])
    let hostEnds = (input: pipes[1], output: pipes[2], errors: pipes[4])

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_adddup2(&actions, childEnds.input, 0)
    posix_spawn_file_actions_adddup2(&actions, childEnds.output, 1)
    posix_spawn_file_actions_adddup2(&actions, childEnds.errors, 2)
    _ = SpawnExtensions.closeFrom?(&actions, 3)
    _ = directory.withCString { SpawnExtensions.changeDirectory?(&actions, $0) }

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    posix_spawnattr_setsigmask(&attributes, &empty)
    var defaults = sigset_t()
    sigfillset(&defaults)
    sigdelset(&defaults, SIGKILL)
    sigdelset(&defaults, SIGSTOP)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setpgroup(&attributes, 0)
    posix_spawnattr_setflags(
      &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

    var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
    var envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
    defer {
      for pointer in argv { free(pointer) }
      for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let status = posix_spawn(&pid, executable, &actions, &attributes, &argv, &envp)
    close(childEnds.input)
    close(childEnds.output)
    close(childEnds.errors)
    guard status == 0 else {
      close(hostEnds.input)
      close(hostEnds.output)
      close(hostEnds.errors)
      return .failure(SpawnError(description: "cannot run \(executable): \(systemError(status))"))
    }
    for fd in [hostEnds.input, hostEnds.output, hostEnds.errors] {
      _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }
    return .success(ChildProcess(pid: pid, input: hostEnds.input, output: hostEnds.output, errors: hostEnds.errors))
  }

  /// Closes the child's stdin (it sees end of input).
  mutating func closeInput() {
    if input >= 0 { close(input) }
    input = -1
  }

  /// Closes the host's end of the child's stdout.
  mutating func closeOutput() {
    if output >= 0 { close(output) }
    output = -1
  }

  /// Closes the host's end of the child's stderr.
  mutating func closeErrors() {
    if errors >= 0 { close(errors) }
    errors = -1
  }

  /// Closes every pipe.
  mutating func closeAll() {
    closeInput()
    closeOutput()
    closeErrors()
  }

  /// Sends `signal` to the child's process group: the child and any helpers it started. Safe after the child was
  /// reaped, since a process group's id is not reused while the group has members.
  func signalGroup(_ signal: Int32) {
    kill(-pid, signal)
  }

  /// Sends `signal` to the child itself (in case it left its group). Only until it is reaped: then its pid may
  /// belong to another process.
  func signalProcess(_ signal: Int32) {
    kill(pid, signal)
  }

  /// The child's wait status if it has ended (reaping it), `nil` while it runs. With `blocking`, waits for it.
  func reap(blocking: Bool) -> Int32? {
    var status: Int32 = 0
    while true {
      let result = waitpid(pid, &status, blocking ? 0 : WNOHANG)
      if result == pid { return status }
      if result < 0 && errno == EINTR { continue }
      // 0: still running; -1 (ECHILD): already reaped elsewhere, which only happens if someone else waits for it.
      return result == 0 ? nil : status
    }
  }

  /// "exited with status 3", "was killed by signal 11 (SIGSEGV)".
  static func describe(status: Int32) -> String {
    let signal = status & 0x7f
    if signal == 0 { return "exited with status \((status >> 8) & 0xff)" }
    return "was killed by signal \(signal)\(signalNames[signal].map { " (\($0))" } ?? "")"
  }

  private static let signalNames: [Int32: String] = [
    SIGHUP: "SIGHUP", SIGINT: "SIGINT", SIGQUIT: "SIGQUIT", SIGILL: "SIGILL", SIGTRAP: "SIGTRAP",
    SIGABRT: "SIGABRT", SIGBUS: "SIGBUS", SIGFPE: "SIGFPE", SIGKILL: "SIGKILL", SIGSEGV: "SIGSEGV",
    SIGPIPE: "SIGPIPE", SIGALRM: "SIGALRM", SIGTERM: "SIGTERM",
  ]
}

/// Creates a pipe whose ends are close-on-exec from the start (`pipe2`), so a child another thread spawns meanwhile
/// (another plugin's) never inherits them; non-blocking when asked.
func makePipe(_ ends: inout [Int32], nonBlocking: Bool) -> Bool {
  ends.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC | (nonBlocking ? O_NONBLOCK : 0)) } == 0
}

/// The text of a system error number.
func systemError(_ number: Int32) -> String {
  String(cString: strerror(number))
}

/// glibc's `posix_spawn` extensions, which the Glibc module does not export (they need `_GNU_SOURCE`): closing every
/// descriptor from a number up, and changing directory. Found at run time; without them the child keeps only the
/// descriptors that are not close-on-exec, and the host's working directory.
private enum SpawnExtensions {
  typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
  typealias ChangeDirectory =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

  static let closeFrom: CloseFrom? = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np").map {
    unsafeBitCast($0, to: CloseFrom.self)
  }
  static let changeDirectory: ChangeDirectory? = dlsym(nil, "posix_spawn_file_actions_addchdir_np").map {
    unsafeBitCast($0, to: ChangeDirectory.self)
  }
}
