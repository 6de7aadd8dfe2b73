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

  /// ISO 8601 in UTC with a `Z`, e.g. `2026-11-22T18:06:00Z` (milliseconds shown when not zero). Years outside
  /// 0…9999 are written in the expanded form with a sign (`+10000-01-01T00:00:00Z`, `-0001-12-31T00:00:00Z`).
  public var iso8601: String {
    let date = civilDate
    let msOfDay = milliseconds.floorModulo(86_400_000)
    let seconds = Int(msOfDay / 1000)
    let millis = Int(msOfDay % 1000)
    // Written byte by byte into the string's own storage: this runs for every sync state and reset time shown.
    return String(unsafeUninitializedCapacity: 32) { buffer in
      var text = ASCIIWriter(buffer)
      date.write(to: &text)
      text.byte(84)  // T
      text.digits(seconds / 3600, width: 2)
      text.byte(58)
      text.digits(seconds / 60 % 60, width: 2)
      text.byte(58)
      text.digits(seconds % 60, width: 2)
      if millis != 0 {
        text.byte(46)
        text.digits(millis, width: 3)
      }
      text.byte(90)  // Z
      return text.count
    }
  }

  /// Parses the forms ``iso8601`` writes (`[±Y]YYYY-MM-DDTHH:MM:SS[.mmm]Z`) and a bare date `[±Y]YYYY-MM-DD`.
  /// Dates that do not exist (`2025-02-30`) and times outside the representable range are refused.
  public init?(iso8601 text: String) {
    let bytes = Array(text.utf8)
    var position = 0
    func isDigit(_ index: Int) -> Bool { index < bytes.count && bytes[index] >= 48 && bytes[index] <= 57 }
    func digits(_ count: Int) -> Int? {
      var value = 0
      for _ in 0..<count {
        guard isDigit(position) else { return nil }
        value = value * 10 + Int(bytes[position] - 48)
        position += 1
      }
      return value
    }
    func skip(_ byte: UInt8) -> Bool {
      guard position < bytes.count, bytes[position] == byte else { return false }
      position += 1
      return true
    }
    // The year: four digits, or a sign and four to nine digits for years outside 0…9999.
    let sign: Int? = skip(43) ? 1 : skip(45) ? -1 : nil
    var yearDigits = 0
    while isDigit(position + yearDigits) { yearDigits += 1 }
    guard sign == nil ? yearDigits == 4 : (4...9).contains(yearDigits), let magnitude = digits(yearDigits) else {
      return nil
    }
    let year = magnitude * (sign ?? 1)
    guard sign == nil || !(0...9999).contains(year) else { return nil }
    guard skip(45), let month = digits(2), skip(45), let day = digits(2), (1...12).contains(month), day >= 1
    else { return nil }
    let days = CivilDate.daysSinceEpoch(year: year, month: month, day: day)
    guard CivilDate(daysSinceEpoch: days).day == day else { return nil }
    var msOfDay: Int64 = 0
    if position < bytes.count {
      guard skip(84), let hour = digits(2), skip(58), let minute = digits(2), skip(58), let second = digits(2),
        hour < 24, minute < 60, second < 61
      else { return nil }
      var millis = 0
      if skip(46) {
        guard let fraction = digits(3) else { return nil }
        millis = fraction
      }
      guard skip(90), position == bytes.count else { return nil }
      msOfDay = Int64((hour * 3600 + minute * 60 + second) * 1000 + millis)
    }
    // Counted from the nearer end of the day, so the earliest and latest representable moments do not overflow.
    let dayBase = days < 0 ? Int64(days) + 1 : Int64(days)
    let (dayStart, overflowDay) = dayBase.multipliedReportingOverflow(by: 86_400_000)
    let (total, overflowTime) = dayStart.addingReportingOverflow(days < 0 ? msOfDay - 86_400_000 : msOfDay)
    guard !overflowDay, !overflowTime else { return nil }
    self.init(milliseconds: total)
  }

  public var description: String { iso8601 }

  public func adding(milliseconds delta: Int64) -> Timestamp { Timestamp(milliseconds: milliseconds &+ delta) }
}

/// Writes ASCII into a string's uninitialised storage (the dates and times above; their lengths are bounded).
private struct ASCIIWriter {
  let buffer: UnsafeMutableBufferPointer<UInt8>
  var count = 0

  init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

  mutating func byte(_ value: UInt8) {
    buffer[count] = value
    count += 1
  }

  /// `value` (not negative) in decimal, zero-padded to `width` digits.
  mutating func digits(_ value: Int, width: Int) {
    var length = 1
    var rest = value / 10
    while rest > 0 {
      length += 1
      rest /= 10
    }
    for _ in length..<max(width, length) { byte(48) }
    var remaining = value
    var position = count + length - 1
    while position >= count {
      buffer[position] = UInt8(48 + remaining % 10)
      remaining /= 10
      position -= 1
    }
    count += length
  }
}

extension Int64 {
  /// Division rounding toward negative infinity.
  public func floorDivided(by divisor: Int64) -> Int64 {
    let quotient = self / divisor
    return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
  }

  /// The remainder of ``floorDivided(by:)``, in `0..<divisor` for a positive divisor.
  func floorModulo(_ divisor: Int64) -> Int64 {
    let remainder = self % divisor
    return remainder != 0 && (remainder < 0) != (divisor < 0) ? remainder + divisor : remainder
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

  /// `YYYY-MM`; years outside 0…9999 in the expanded form with a sign (`+10000-01`, `-0001-12`).
  public var iso8601Month: String {
    String(unsafeUninitializedCapacity: 16) { buffer in
      var text = ASCIIWriter(buffer)
      writeMonth(to: &text)
      return text.count
    }
  }

  /// `YYYY-MM-DD`, with the year written as in ``iso8601Month``.
  public var iso8601: String {
    String(unsafeUninitializedCapacity: 20) { buffer in
      var text = ASCIIWriter(buffer)
      write(to: &text)
      return text.count
    }
  }

  /// Writes `YYYY-MM` (at most 13 bytes).
  fileprivate func writeMonth(to text: inout ASCIIWriter) {
    if !(0...9999).contains(year) { text.byte(year < 0 ? 45 : 43) }
    text.digits(abs(year), width: 4)
    text.byte(45)
    text.digits(month, width: 2)
  }

  /// Writes `YYYY-MM-DD` (at most 16 bytes).
  fileprivate func write(to text: inout ASCIIWriter) {
    writeMonth(to: &text)
    text.byte(45)
    text.digits(day, width: 2)
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
