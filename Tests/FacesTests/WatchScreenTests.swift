import Faces
import JSON
import Testing
import UsageCore

/// The watch screen's frame: bars coloured by level, widths kept, the breakdown, sync states.
@Suite("WatchScreen")
struct WatchScreenTests {
  static let now = Timestamp(iso8601: "2026-11-16T00:00:00Z")!

  static func overview() throws -> UsageOverview {
    try #require(
      UsageOverview(
        try JSONData(
          parsing: """
            {"version":3,"tier":"free","metrics":{
            "documents":{"name":"documents","unit":"documents","used":100,"limit":100,"ratio":1,"level":"exceeded","period":"unlimited","sync":{"state":"error","error":"disk gone","lastSyncedAt":"2026-11-15T23:58:00Z"}},
            "storage":{"name":"storage","unit":"bytes","used":90000000,"limit":104857600,"ratio":0.858,"level":"warning","period":"unlimited","sync":{"state":"loading"}},
            "tokens":{"name":"tokens","unit":"tokens","used":50000,"limit":100000,"ratio":0.5,"level":"ok","period":"monthly","periodStart":"2026-11-01T00:00:00Z","nextReset":"2026-12-01T00:00:00Z","input":40000,"output":10000,"cost":0.2,"currency":"USD","byModel":{"gpt-4o":{"used":50000,"input":40000,"output":10000,"cost":0.2}},"sync":{"state":"idle","lastSyncedAt":"2026-11-15T23:59:59Z"}}}}
            """)))
  }

  @Test("plain: every line within the width; bars, units, periods, burn rate, sync, the breakdown")
  func plain() throws {
    let lines = WatchScreen(style: TerminalStyle(enabled: false), width: 70, height: 40).lines(
      try Self.overview(), now: Self.now)
    #expect(lines.allSatisfy { $0.count <= 70 }, "\(lines)")
    let text = lines.joined(separator: "\n")
    #expect(text.contains("100 / 100 documents  100%"))
    #expect(text.contains("86 MiB / 100 MiB"))
    #expect(text.contains("sync error: disk gone (last ok 2m ago)"))
    #expect(text.contains("syncing"))
    #expect(text.contains("monthly, resets in 15d 0h · burn 3.3k/day → 100k by reset"))
    #expect(text.contains("gpt-4o"))
    #expect(text.contains("40,000"))
  }

  @Test("coloured: red at the limit, yellow from the warning level, green below")
  func colours() throws {
    let lines = WatchScreen(style: TerminalStyle(enabled: true), width: 100, height: 40).lines(
      try Self.overview(), now: Self.now)
    #expect(lines.first { $0.contains("documents") }?.contains("\u{1B}[31m") == true)
    #expect(lines.first { $0.contains("storage") }?.contains("\u{1B}[33m") == true)
    #expect(lines.first { $0.contains("tokens") }?.contains("\u{1B}[32m") == true)
  }

  @Test("a short terminal: the frame is cut to its height, saying how much is hidden")
  func short() throws {
    let lines = WatchScreen(style: TerminalStyle(enabled: false), width: 80, height: 6).lines(
      try Self.overview(), now: Self.now)
    #expect(lines.count == 6)
    #expect(lines.last?.contains("more lines") == true)
  }
}
