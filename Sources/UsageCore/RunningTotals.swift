/// One metric's running totals in memory: over all time and per UTC day (days since the epoch), so any daily or
/// monthly period's total comes from a few additions. Shared by the ledgers' in-memory views.
public struct RunningTotals: Sendable, Equatable {
  public private(set) var allTime: Int64 = 0
  public private(set) var days: [Int64: Int64] = [:]

  public init() {}

  /// Moves the totals by `delta` on `day` (wrapping: the change was checked against ``committed(since:today:)``).
  public mutating func add(_ delta: Int64, on day: Int64) {
    allTime &+= delta
    days[day, default: 0] &+= delta
  }

  /// Sets one total as read from storage (`day` `nil` for all time).
  public mutating func set(_ total: Int64, day: Int64?) {
    if let day { days[day] = total } else { allTime = total }
  }

  /// The total from the UTC day `firstDay` on (`nil`: over all time).
  public func total(fromDay firstDay: Int64?) -> Int64 {
    guard let firstDay else { return allTime }
    return days.reduce(into: Int64(0)) { sum, entry in
      if entry.key >= firstDay { sum = sum.saturatingAdd(entry.value) }
    }
  }

  /// The total of the period from `firstDay`, and the range the totals a change on `today` would move allow.
  public func committed(fromDay firstDay: Int64?, today: Int64) -> CommittedTotal {
    let total = total(fromDay: firstDay)
    let day = days[today] ?? 0
    return CommittedTotal(total: total, lowest: min(total, day, allTime), highest: max(total, day, allTime))
  }

  /// The UTC day of `time` (days since the epoch).
  public static func day(_ time: Timestamp) -> Int64 { time.milliseconds.floorDivided(by: 86_400_000) }
}
