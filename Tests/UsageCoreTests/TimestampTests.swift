import Testing
import UsageCore

/// UTC timestamps: ISO 8601 text both ways and the proleptic Gregorian calendar, before 1970 and far from it.
@Suite("Timestamps")
struct TimestampTests {
  @Test("formats ISO 8601 in UTC, showing milliseconds only when present")
  func formatting() {
    #expect(Timestamp(milliseconds: 0).iso8601 == "1970-01-01T00:00:00Z")
    #expect(Timestamp(milliseconds: 1).iso8601 == "1970-01-01T00:00:00.001Z")
    #expect(Timestamp(year: 2026, month: 11, day: 22, hour: 18, minute: 6).iso8601 == "2026-11-22T18:06:00Z")
    #expect(Timestamp(seconds: 1_700_000_000).iso8601 == "2023-11-14T22:13:20Z")
    #expect(Timestamp(milliseconds: 1_700_000_000_123).iso8601 == "2023-11-14T22:13:20.123Z")
    #expect(
      Timestamp(year: 2024, month: 2, day: 29, hour: 23, minute: 59, second: 59).description == "2024-02-29T23:59:59Z")
  }

  @Test("negative epochs are before 1970, not mirrored")
  func negativeEpochs() {
    #expect(Timestamp(milliseconds: -1).iso8601 == "1969-12-31T23:59:59.999Z")
    #expect(Timestamp(seconds: -1).iso8601 == "1969-12-31T23:59:59Z")
    #expect(Timestamp(seconds: -86_400).iso8601 == "1969-12-31T00:00:00Z")
    #expect(Timestamp(seconds: -86_401).iso8601 == "1969-12-30T23:59:59Z")
    #expect(Timestamp(milliseconds: -1).civilDate == CivilDate(daysSinceEpoch: -1))
    #expect(Timestamp(milliseconds: -86_400_000).civilDate.daysSinceEpoch == -1)
    #expect(Timestamp(milliseconds: -86_400_001).civilDate.daysSinceEpoch == -2)
    #expect(Timestamp(year: 1900, month: 1, day: 1).milliseconds == -2_208_988_800_000)
  }

  @Test("parses what it writes, and bare dates")
  func parsing() {
    #expect(Timestamp(iso8601: "1970-01-01T00:00:00Z") == Timestamp(milliseconds: 0))
    #expect(Timestamp(iso8601: "2023-11-14T22:13:20.123Z") == Timestamp(milliseconds: 1_700_000_000_123))
    #expect(Timestamp(iso8601: "1969-12-31T23:59:59.999Z") == Timestamp(milliseconds: -1))
    #expect(Timestamp(iso8601: "2024-02-29") == Timestamp(year: 2024, month: 2, day: 29))
  }

  @Test(
    "refuses malformed text",
    arguments: [
      "", "2025", "2025-1-01", "2025-13-01", "2025-00-10", "2025-01-32", "2025-01-00", "2025-01-01T",
      "2025-01-01 10:00:00Z",
      "2025-01-01T24:00:00Z", "2025-01-01T10:60:00Z", "2025-01-01T10:00:00", "2025-01-01T10:00:00+01:00",
      "2025-01-01T10:00:00.1Z", "2025-01-01T10:00:00.1234Z", "2025-01-01T10:00:00.Z", "2025-01-01T1a:00:00Z",
      "2025-02-30", "2023-02-29", "2025-04-31T00:00:00Z", "2100-02-29",
    ])
  func refuses(text: String) {
    #expect(Timestamp(iso8601: text) == nil)
  }

  @Test("text round trips through parsing, across centuries and before 1970")
  func roundTrip() {
    var generator = SplitMix(seed: 7)
    let span: UInt64 = 2 * 253_402_300_800_000  // ±year 10000 around 1970
    for _ in 0..<20_000 {
      let milliseconds = Int64(bitPattern: generator.next() % span) - Int64(span / 2)
      let time = Timestamp(milliseconds: milliseconds)
      let text = time.iso8601
      let date = time.civilDate
      guard (0...9999).contains(date.year) else { continue }
      #expect(Timestamp(iso8601: text) == time, "\(text)")
    }
    for text in ["0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1600-02-29T12:00:00Z", "1582-10-04T00:00:00Z"] {
      #expect(Timestamp(iso8601: text)?.iso8601 == text)
    }
  }

  @Test("years outside 0…9999 are written with a sign and read back")
  func expandedYears() {
    let farFuture = Timestamp(year: 12_345, month: 6, day: 7, hour: 8, minute: 9, second: 10)
    #expect(farFuture.iso8601 == "+12345-06-07T08:09:10Z")
    #expect(Timestamp(iso8601: farFuture.iso8601) == farFuture)
    let beforeYearZero = Timestamp(year: -1, month: 12, day: 31, hour: 23)
    #expect(beforeYearZero.iso8601 == "-0001-12-31T23:00:00Z")
    #expect(Timestamp(iso8601: beforeYearZero.iso8601) == beforeYearZero)
    let longAgo = Timestamp(year: -44_000, month: 3, day: 15)
    #expect(longAgo.iso8601 == "-44000-03-15T00:00:00Z")
    #expect(Timestamp(iso8601: longAgo.iso8601) == longAgo)
    #expect(Timestamp(year: 10_000, month: 1, day: 1).iso8601 == "+10000-01-01T00:00:00Z")
    #expect(Timestamp(iso8601: "+2025-01-01T00:00:00Z") == nil)
    #expect(Timestamp(iso8601: "+123-01-01") == nil)
    var generator = SplitMix(seed: 11)
    for _ in 0..<5_000 {
      let milliseconds = Int64(bitPattern: generator.next() >> 2) - Int64(1) << 61
      let time = Timestamp(milliseconds: milliseconds)
      #expect(Timestamp(iso8601: time.iso8601) == time, "\(time.iso8601)")
    }
  }

  @Test("the extreme timestamps format without trapping")
  func extremes() {
    let earliest = Timestamp(milliseconds: .min)
    let latest = Timestamp(milliseconds: .max)
    #expect(earliest.iso8601 == "-292275055-05-16T16:47:04.192Z")
    #expect(latest.iso8601 == "+292278994-08-17T07:12:55.807Z")
    #expect(earliest.civilDate.year == -292_275_055)
    #expect(latest.civilDate.year == 292_278_994)
  }

  @Test("known calendar dates convert both ways")
  func knownDates() {
    let known: [(Int, Int, Int, Int)] = [
      (1970, 1, 1, 0), (1969, 12, 31, -1), (2000, 1, 1, 10_957), (2000, 2, 29, 11_016), (2000, 3, 1, 11_017),
      (1900, 1, 1, -25_567), (1600, 3, 1, -135_080), (1, 1, 1, -719_162), (0, 3, 1, -719_468), (0, 2, 29, -719_469),
      (-1, 12, 31, -719_529), (9999, 12, 31, 2_932_896), (2038, 1, 19, 24_855), (-4713, 11, 24, -2_440_588),
    ]
    for (year, month, day, days) in known {
      #expect(CivilDate.daysSinceEpoch(year: year, month: month, day: day) == days, "\(year)-\(month)-\(day)")
      let date = CivilDate(daysSinceEpoch: days)
      #expect([date.year, date.month, date.day] == [year, month, day], "\(days)")
    }
  }

  @Test("consecutive days follow the Gregorian calendar over 1.2 million years")
  func calendarWalk() {
    func isLeap(_ year: Int) -> Bool { (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 }
    func length(_ year: Int, _ month: Int) -> Int {
      switch month {
      case 2: return isLeap(year) ? 29 : 28
      case 4, 6, 9, 11: return 30
      default: return 31
      }
    }
    // Walk day by day across a few windows, including far past and far future.
    for start in [-219_146_000, -800_000, -1, 10_000, 2_932_800, 219_146_000] {
      var previous = CivilDate(daysSinceEpoch: start)
      for days in (start + 1)...(start + 3_000) {
        let date = CivilDate(daysSinceEpoch: days)
        if previous.day < length(previous.year, previous.month) {
          #expect([date.year, date.month, date.day] == [previous.year, previous.month, previous.day + 1])
        } else if previous.month < 12 {
          #expect([date.year, date.month, date.day] == [previous.year, previous.month + 1, 1])
        } else {
          #expect([date.year, date.month, date.day] == [previous.year + 1, 1, 1])
        }
        #expect(CivilDate.daysSinceEpoch(year: date.year, month: date.month, day: date.day) == days)
        previous = date
      }
    }
    // 400 Gregorian years are exactly 146 097 days, wherever they start.
    for year in [-600_000, -401, -1, 0, 1600, 1970, 2025, 600_000] {
      #expect(
        CivilDate.daysSinceEpoch(year: year + 400, month: 3, day: 1)
          - CivilDate.daysSinceEpoch(year: year, month: 3, day: 1)
          == 146_097)
    }
  }

  @Test("timestamps order by time and move by milliseconds")
  func ordering() {
    let time = Timestamp(year: 2025, month: 1, day: 1)
    #expect(time < time.adding(milliseconds: 1))
    #expect(time.adding(milliseconds: -1) < time)
    #expect(time.adding(milliseconds: 86_400_000) == Timestamp(year: 2025, month: 1, day: 2))
    let clock = ManualWallClock(time)
    clock.advance(seconds: 90)
    #expect(clock.now() == Timestamp(year: 2025, month: 1, day: 1, minute: 1, second: 30))
    clock.set(Timestamp(milliseconds: -5))
    #expect(clock.now().milliseconds == -5)
  }
}
