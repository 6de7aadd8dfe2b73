import Faces
import JSON
import Ledger
import Testing
import UsageCore

/// The report's and the export's formats over rows made by hand.
@Suite("Report and export formats")
struct ReportFormatTests {
  static let shapes = [
    MetricShape(name: "tokens", fields: ["input", "output"], currency: "USD", unit: "tokens"),
    MetricShape(name: "requests", unit: "requests"),
  ]
  static let rows = [
    HistoryRow(metric: "requests", group: nil, total: 3, changes: 2),
    HistoryRow(metric: "tokens", group: "chat, 1", total: 150, changes: 2, fields: [100, 50, 0, 0], cost: 0.00075),
  ]

  @Test("table: field and cost columns only for the metrics that have them; no trailing blanks")
  func table() {
    let table = HistoryReport(rows: Self.rows, grouping: "conversation", shapes: Self.shapes).table()
    #expect(
      table == """
        METRIC    CONVERSATION  TOTAL  CHANGES  INPUT  OUTPUT         COST
        requests  (none)            3        2
        tokens    chat, 1         150        2    100      50  0.00075 USD

        """)
  }

  @Test("csv quotes, empty cells for metrics without fields; json carries fields, cost and currency")
  func csvAndJSON() throws {
    let report = HistoryReport(rows: Self.rows, grouping: "conversation", shapes: Self.shapes)
    #expect(
      report.csv()
        == "metric,conversation,total,changes,input,output,cost,currency\r\nrequests,,3,2,,,,\r\n"
        + "tokens,\"chat, 1\",150,2,100,50,0.00075,USD\r\n")
    let json = try JSONData(parsing: report.json())
    #expect(
      json["rows"]?[1] == [
        "metric": "tokens", "group": "chat, 1", "total": 150, "changes": 2, "input": 100, "output": 50, "cost": 0.00075,
        "currency": "USD",
      ])
    #expect(json["rows"]?[0] == ["metric": "requests", "group": nil, "total": 3, "changes": 2])
  }

  @Test("export: one line per row, labels from the kept JSON, the time in UTC")
  func export() throws {
    let row = ChangeRow(
      at: Timestamp(iso8601: "2026-11-20T10:00:00.250Z")!.milliseconds, metric: "tokens", delta: 150, key: "k",
      label: "gpt-4o", labels: #"{"conversation":"c","model":"gpt-4o","provider":"openai"}"#, fields: [100, 50, 0, 0],
      cost: 0.00075)
    let csv = ChangeExport(format: .csv, shapes: Self.shapes)
    #expect(
      csv.header() == "time,metric,kind,amount,changes,input,output,model,provider,conversation,cost,currency,key\r\n")
    #expect(csv.line(row) == "2026-11-20T10:00:00.250Z,tokens,change,150,1,100,50,gpt-4o,openai,c,0.00075,USD,k\r\n")
    let jsonl = ChangeExport(format: .jsonl, shapes: Self.shapes)
    #expect(jsonl.header() == nil)
    let object = try JSONData(parsing: jsonl.line(row))
    #expect(object["labels"]?["provider"] == "openai")
    #expect(object["input"] == 100)
    #expect(object["kind"] == "change")
  }

  @Test("html: an SVG bar per day and series, escaped names, no script")
  func html() {
    let chart = HtmlReport.chart(
      metric: "tokens", unit: "tokens",
      series: [
        ("<b>", [HistoryRow(metric: "tokens", group: "2026-11-01", total: 10, changes: 1)]),
        ("m2", [HistoryRow(metric: "tokens", group: "2026-11-02", total: 5, changes: 1)]),
      ])
    #expect(chart.days == ["2026-11-01", "2026-11-02"])
    #expect(chart.series.map(\.totals) == [[10, 0], [0, 5]])
    let page = HtmlReport(
      range: "all", charts: [chart], totals: HistoryReport(rows: Self.rows, grouping: "day", shapes: Self.shapes)
    ).html()
    #expect(page.ranges(of: "<rect ").count == 2)
    #expect(page.contains("&lt;b&gt;"))
    #expect(!page.contains("<b>"))
    #expect(!page.contains("<script"))
  }
}
