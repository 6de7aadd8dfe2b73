import Glibc
import Synchronization

/// The source of wall-clock time for everything calendar-related (periods, timestamps). Injected, so tests can
/// move time by hand.
public protocol WallClock: Sendable {
  func now() -> Timestamp
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
  public init() {}
  public func now() -> Timestamp {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Timestamp(milliseconds: Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000)
  }
}

/// A clock that moves only when told to (tests, replayed transcripts).
public final class ManualWallClock: WallClock {
  private let current: Mutex<Timestamp>

  public init(_ start: Timestamp) { current = Mutex(start) }

  public func now() -> Timestamp { current.withLock { $0 } }

  public func set(_ time: Timestamp) { current.withLock { $0 = time } }

  public func advance(milliseconds: Int64) { current.withLock { $0 = $0.adding(milliseconds: milliseconds) } }

  public func advance(seconds: Int64) { advance(milliseconds: seconds * 1000) }
}
