import Faces
import JSON
import Testing
import UsageCore

/// The status line's formats and template, from MetricState JSON as a session writes it.
@Suite("StatusLine")
struct StatusLineTests {
  static let now = Timestamp(iso8601: "2026-11-20T12:00:00Z")!

  static let tokens = MetricSummary(
    try! JSONData(
      parsing: """
        {"name":"tokens","kind":"tokens","unit":"tokens","used":85000,"limit":100000,"remaining":15000,"ratio":0.85,\
        "level":"warning","version":3,"period":"monthly","periodStart":"2026-11-01T00:00:00Z",\
        "nextReset":"2026-12-01T00:00:00Z","input":80000,"output":5000,"cost":0.2075,"currency":"USD",\
        "byModel":{"gpt-4o":{"used":85000,"input":80000,"output":5000,"cost":0.2075,"priced":true,"events":2}}}
        """))!
  static let storage = MetricSummary(name: "storage", unit: "bytes", used: 1_572_864, limit: 104_857_600, level: .ok)

  @Test("a MetricState is read with its fields, cost and breakdown")
  func reading() {
    let tokens = Self.tokens
    #expect(tokens.level == .warning)
    #expect(tokens.fields.map(\.name) == ["input", "output"])
    #expect(tokens.breakdown.map(\.name) == ["gpt-4o"])
    #expect(tokens.breakdown.first?.fields.map(\.value) == [80000, 5000])
  }

  @Test("text: the default template per metric, coloured by level only when styled")
  func text() {
    let plain = StatusLine(format: .text, style: TerminalStyle(enabled: false))
    #expect(
      plain.render([Self.tokens, Self.storage], now: Self.now)
        == "tokens 85k/100k 85% $0.21  storage 1.5 MiB/100 MiB 1%")
    let coloured = StatusLine(format: .text, style: TerminalStyle(enabled: true))
    #expect(coloured.render([Self.tokens], now: Self.now) == "\u{1B}[33mtokens 85k/100k 85% $0.21\u{1B}[0m")
  }

  @Test("a template's placeholders, the time to reset, and unknown placeholders kept")
  func template() {
    let line = StatusLine(
      format: .text, template: "{name}:{remaining} left, resets in {reset} {nope}", style: .init(enabled: false))
    #expect(line.render([Self.tokens], now: Self.now) == "tokens:15k left, resets in 10d 12h {nope}")
    let open = StatusLine(format: .text, template: "{name} {unclosed", style: .init(enabled: false))
    #expect(open.render([Self.storage], now: Self.now) == "storage {unclosed")
  }

  @Test("tmux: #[fg=…] per metric, #[default] after; waybar: class is the worst level")
  func bars() throws {
    let tmux = StatusLine(format: .tmux, style: .init(enabled: true))
    #expect(
      tmux.render([Self.tokens, Self.storage], now: Self.now)
        == "#[fg=yellow]tokens 85k/100k 85% $0.21#[default] #[fg=green]storage 1.5 MiB/100 MiB 1%#[default]")
    let waybar = try JSONData(
      parsing: StatusLine(format: .waybar, style: .init(enabled: false)).render(
        [Self.tokens, Self.storage], now: Self.now))
    #expect(waybar["class"] == "warning")
    #expect(waybar["percentage"] == 85)
    #expect(waybar["tooltip"]?.string?.contains("tokens: 85,000 / 100,000 tokens (85%, warning), $0.21") == true)
  }

  @Test("json: the worst level and each metric's numbers")
  func json() throws {
    let json = try JSONData(
      parsing: StatusLine(format: .json, style: .init(enabled: true)).render([Self.tokens], now: Self.now))
    #expect(json["level"] == "warning")
    #expect(json["metrics"]?[0]?["used"] == 85000)
    #expect(json["metrics"]?[0]?["currency"] == "USD")
    #expect(json["text"] == "tokens 85k/100k 85% $0.21")
  }

  @Test("quantities: bytes in binary multiples, compact counts, costs, durations")
  func quantities() {
    #expect(Quantity.bytes(512) == "512 B")
    #expect(Quantity.bytes(1536) == "1.5 KiB")
    #expect(Quantity.bytes(10 * 1024 * 1024 * 1024) == "10 GiB")
    #expect(Quantity.compact(999) == "999")
    #expect(Quantity.compact(65_565) == "66k")
    #expect(Quantity.compact(1_234_567) == "1.2M")
    #expect(Quantity.cost(0.2075, currency: "USD") == "$0.21")
    #expect(Quantity.cost(0.0065, currency: "USD") == "$0.0065")
    #expect(Quantity.cost(3, currency: "EUR") == "3.00 EUR")
    #expect(Quantity.percent(0.999) == 99)
    #expect(Quantity.duration(seconds: 3 * 86_400 + 4 * 3600 + 5) == "3d 4h")
    #expect(Quantity.grouped(1_234_567) == "1,234,567")
  }

  @Test("colour: auto needs a terminal and no NO_COLOR")
  func colour() {
    #expect(TerminalStyle.resolve("auto", isTerminal: true, noColor: nil).enabled)
    #expect(!TerminalStyle.resolve("auto", isTerminal: true, noColor: "1").enabled)
    #expect(TerminalStyle.resolve("auto", isTerminal: true, noColor: "").enabled)
    #expect(!TerminalStyle.resolve("auto", isTerminal: false, noColor: nil).enabled)
    #expect(TerminalStyle.resolve("always", isTerminal: false, noColor: "1").enabled)
  }
}
