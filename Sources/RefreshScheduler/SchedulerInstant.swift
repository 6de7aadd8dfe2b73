/// A length of time in milliseconds: the unit of every duration the scheduler handles.
public typealias Milliseconds = Int64

/// A point in monotonic time: milliseconds from an origin fixed by the clock that produced it. Instants from
/// different clocks are not comparable. Arithmetic saturates instead of trapping, so a huge retry-after hint
/// means "never", not a crash.
public struct SchedulerInstant: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// Milliseconds since the clock's origin.
  public var milliseconds: Int64

  public init(milliseconds: Int64) { self.milliseconds = milliseconds }

  public static func < (lhs: SchedulerInstant, rhs: SchedulerInstant) -> Bool { lhs.milliseconds < rhs.milliseconds }

  /// The instant `duration` after `instant`.
  public static func + (instant: SchedulerInstant, duration: Milliseconds) -> SchedulerInstant {
    let (sum, overflow) = instant.milliseconds.addingReportingOverflow(duration)
    return SchedulerInstant(milliseconds: overflow ? (duration > 0 ? .max : .min) : sum)
  }

  /// The time from `rhs` to `lhs` (negative when `lhs` is earlier).
  public static func - (lhs: SchedulerInstant, rhs: SchedulerInstant) -> Milliseconds {
    let (difference, overflow) = lhs.milliseconds.subtractingReportingOverflow(rhs.milliseconds)
    return overflow ? (lhs > rhs ? .max : .min) : difference
  }

  public var description: String { "\(milliseconds) ms" }
}
