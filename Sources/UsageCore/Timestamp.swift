/// A moment in UTC, in milliseconds since the Unix epoch.
public struct Timestamp: Comparable, Hashable, Sendable, CustomStringConvertible {
  public var milliseconds: Int64

  public init(milliseconds: Int64) { self.milliseconds = milliseconds }
  public init(seconds: Int64) { self.milliseconds = seconds &* 1000 }

  /// The UTC date and time at midnight of a calendar day.
  public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
    let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
    self.init(seconds: Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second))
  }

  public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

  /// Days since 1970-01-01 (floored) and the UTC calendar date.
  public var civilDate: CivilDate {
    let days = Int(milliseconds.floorDivided(by: 86_400_000))
    return CivilDate(daysSinceEpoch: days)
  }

  /// ISO 8601 in UTC with a `Z`, e.g. `2026-11-22T18:06:00Z` (milliseconds shown when not zero).
  public var iso8601: String {
    let date = civilDate
    let msOfDay = milliseconds - Int64(date.daysSinceEpoch) * 86_400_000
    let seconds = Int(msOfDay / 1000)
    let millis = Int(msOfDay % 1000)
    var text = pad(date.year, 4) + "-" + pad(date.month, 2) + "-" + pad(date.day, 2)
    text += "T" + pad(seconds / 3600, 2) + ":" + pad(seconds / 60 % 60, 2) + ":" + pad(seconds % 60, 2)
    if millis != 0 { text += "." + pad(millis, 3) }
    return text + "Z"
  }

  /// Parses the forms ``iso8601`` writes (`YYYY-MM-DDTHH:MM:SS[.mmm]Z`) and a bare date `YYYY-MM-DD`.
  public init?(iso8601 text: String) {
    let bytes = Array(text.utf8)
    func number(_ range: Range<Int>) -> Int? {
      guard range.upperBound <= bytes.count else { return nil }
      var value = 0
      for byte in bytes[range] {
        guard byte >= 48 && byte <= 57 else { return nil }
        value = value * 10 + Int(byte - 48)
      }
      return value
    }
    guard let year = number(0..<4), bytes.count >= 10, bytes[4] == 45, let month = number(5..<7), bytes[7] == 45,
      let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
    else { return nil }
    if bytes.count == 10 {
      self.init(year: year, month: month, day: day)
      return
    }
    guard bytes.count >= 20, bytes[10] == 84, let hour = number(11..<13), bytes[13] == 58,
      let minute = number(14..<16), bytes[16] == 58, let second = number(17..<19), bytes.last == 90,
      hour < 24, minute < 60, second < 61
    else { return nil }
    var millis = 0
    if bytes[19] == 46 {
      guard bytes.count == 24, let fraction = number(20..<23) else { return nil }
      millis = fraction
    } else if bytes.count != 20 {
      return nil
    }
    self.init(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    self.milliseconds += Int64(millis)
  }

  public var description: String { iso8601 }

  public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds &+ delta) }
}

private func pad(_ value: Int, _ width: Int) -> String {
  let digits = String(value)
  return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

extension Int64 {
  /// Division rounding toward negative infinity.
  func floorDivided(by divisor: Int64) -> Int64 {
    let quotient = self / divisor
    return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
  }
}

/// A proleptic Gregorian calendar date (the civil-from-days algorithm, exact for all dates).
public struct CivilDate: Equatable, Sendable {
  public let year: Int
  public let month: Int
  public let day: Int
  public let daysSinceEpoch: Int

  public init(daysSinceEpoch days: Int) {
    let shifted = days + 719_468
    let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
    let dayOfEra = shifted - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthIndex = (5 * dayOfYear + 2) / 153
    day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    daysSinceEpoch = days
  }

  /// Days from 1970-01-01 to the given date.
  public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
    let adjustedYear = month <= 2 ? year - 1 : year
    let era = (adjustedYear >= 0 ? adjustedYear : adjustedYear - 399) / 400
    let yearOfEra = adjustedYear - era * 400
    let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }
}
