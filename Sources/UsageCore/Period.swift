/// The window a metric counts over before it starts again from zero. Periods are UTC calendar days or months.
public enum Period: String, CaseIterable, Sendable, Equatable {
  case daily, monthly, unlimited

  /// The start of the period containing `time` (`nil` when unlimited).
  public func start(containing time: Timestamp) -> Timestamp? {
    let date = time.civilDate
    switch self {
    case .daily: return Timestamp(year: date.year, month: date.month, day: date.day)
    case .monthly: return Timestamp(year: date.year, month: date.month, day: 1)
    case .unlimited: return nil
    }
  }

  /// The start of the period after the one that starts at `start`.
  public func end(ofPeriodStartingAt start: Timestamp) -> Timestamp? {
    let date = start.civilDate
    switch self {
    case .daily: return Timestamp(seconds: Int64(date.daysSinceEpoch + 1) * 86_400)
    case .monthly:
      return date.month == 12
        ? Timestamp(year: date.year + 1, month: 1, day: 1) : Timestamp(year: date.year, month: date.month + 1, day: 1)
    case .unlimited: return nil
    }
  }
}
