import CLinux
import Glibc
import Synchronization

/// Work handed to the server's loop thread from other threads: queued under a lock, and an eventfd wakes the loop.
/// The only part of the server other threads may touch.
public final class JobQueue: Sendable {
  /// Work to run on the loop thread.
  public typealias Job = @Sendable () -> Void

  private let jobs = Mutex<[Job]>([])
  /// Readable when work is waiting; the loop polls it.
  let wakeFD: Int32

  init() {
    wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
  }

  deinit {
    if wakeFD >= 0 { close(wakeFD) }
  }

  /// Runs `job` on the loop thread soon. Safe from any thread.
  public func post(_ job: @escaping Job) {
    jobs.withLock { $0.append(job) }
    var one: UInt64 = 1
    _ = write(wakeFD, &one, 8)
  }

  /// Takes the waiting work (on the loop thread).
  func take() -> [Job] {
    var counter: UInt64 = 0
    _ = read(wakeFD, &counter, 8)
    return jobs.withLock { queue in
      let taken = queue
      queue.removeAll()
      return taken
    }
  }
}
