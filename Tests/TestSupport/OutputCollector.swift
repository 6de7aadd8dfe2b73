import Foundation

/// Everything a child process writes to one pipe (its stderr, typically), read as it arrives on a thread of its own,
/// so the child never stalls on a full pipe and the test can look at what was written so far at any moment.
///
/// The collector owns the pipe end and closes it when reading stops: at end of file, after ``stop()``, or when the
/// collector goes away (a grandchild holding the write end open cannot keep the thread alive past that).
public final class OutputCollector: Sendable {
  private let state = State()

  /// Starts reading `pipe` until its end of file.
  public init(_ pipe: PipeEnd) {
    let state = self.state
    let thread = Thread {
      defer {
        pipe.close()
        state.finish()
      }
      while !state.isStopping {
        do {
          switch try pipe.read(timeout: 0.1) {
          case .bytes(let bytes): state.append(bytes)
          case .endOfFile: return
          case .timedOut: continue
          }
        } catch {
          state.fail(error)
          return
        }
      }
    }
    thread.name = "OutputCollector"
    thread.start()
  }

  deinit { stop() }

  /// Everything read so far.
  public var bytes: [UInt8] { state.withLock { $0.bytes } }

  /// Everything read so far, as UTF-8 (invalid sequences replaced).
  public var text: String { String(decoding: bytes, as: UTF8.self) }

  /// Whether reading has stopped (end of file, ``stop()``, or an error reading).
  public var isFinished: Bool { state.withLock { $0.finished } }

  /// The error that stopped reading, if one did.
  public var error: (any Error)? { state.withLock { $0.error } }

  /// Waits up to `timeout` seconds for reading to stop; returns whether it has.
  @discardableResult
  public func waitUntilFinished(timeout: Double) -> Bool {
    state.waitUntilFinished(before: Date(timeIntervalSinceNow: max(0, timeout)))
  }

  /// Stops reading within about a tenth of a second; what was read stays.
  public func stop() { state.withLock { $0.stopping = true } }

  /// What the reading thread and the test share, under a lock.
  private final class State: @unchecked Sendable {
    struct Contents {
      var bytes: [UInt8] = []
      var finished = false
      var stopping = false
      var error: (any Error)?
    }

    private let condition = NSCondition()
    private var contents = Contents()

    func withLock<Result>(_ body: (inout Contents) -> Result) -> Result {
      condition.lock()
      defer { condition.unlock() }
      return body(&contents)
    }

    var isStopping: Bool { withLock { $0.stopping } }

    func append(_ bytes: [UInt8]) { withLock { $0.bytes += bytes } }

    func fail(_ error: any Error) { withLock { $0.error = error } }

    func finish() {
      withLock { $0.finished = true }
      condition.broadcast()
    }

    func waitUntilFinished(before deadline: Date) -> Bool {
      condition.lock()
      defer { condition.unlock() }
      while !contents.finished {
        if !condition.wait(until: deadline) { return contents.finished }
      }
      return true
    }
  }
}
