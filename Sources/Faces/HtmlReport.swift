public import Ledger

/// `usagectx report --format html`: one self-contained page (no script, no network) with a daily bar chart per metric
/// as inline SVG — stacked by model for a metric with a breakdown — and the report's totals table with fields and
/// cost.
public struct HtmlReport: Sendable {
  /// One metric's chart: its days, and per series (a model, or the metric itself) the total of each day.
  public struct Chart: Sendable {
    public var metric: String
    public var unit: String
    /// `YYYY-MM-DD`, in order, every day of the range that has a change.
    public var days: [String]
    /// Series in drawing order (bottom first), each with one total per day.
    public var series: [(name: String, totals: [Int64])]

    public init(metric: String, unit: String, days: [String], series: [(name: String, totals: [Int64])]) {
      self.metric = metric
      self.unit = unit
      self.days = days
      self.series = series
    }
  }

  /// Bar colours, one per series in turn (colour-blind friendly).
  public static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]

  public var title: String
  /// What the page covers (`2026-11-01 – 2026-12-01`, `all time`).
  public var range: String
  public var charts: [Chart]
  public var totals: HistoryReport

  public init(title: String = "usagectx report", range: String, charts: [Chart], totals: HistoryReport) {
    self.title = title
    self.range = range
    self.charts = charts
    self.totals = totals
  }

  /// Builds a chart from day rows (one list per series) of one metric.
  public static func chart(metric: String, unit: String, series: [(name: String, rows: [HistoryRow])]) -> Chart {
    let days = Set(series.flatMap { $0.rows.compactMap(\.group) }).sorted()
    let index = Dictionary(uniqueKeysWithValues: days.enumerated().map { ($1, $0) })
    return Chart(
      metric: metric, unit: unit, days: days,
      series: series.map { name, rows in
        var totals = Array(repeating: Int64(0), count: days.count)
        for row in rows { if let group = row.group, let at = index[group] { totals[at] &+= max(0, row.total) } }
        return (name, totals)
      })
  }

  public func html() -> String {
    var page = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>\(Self.escape(title))</title>
      <style>
      body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;margin:24px;color:#222;background:#fff}
      h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 6px}p.range{color:#666;margin:0 0 12px}
      table{border-collapse:collapse;font-size:13px;margin-top:8px}th,td{padding:3px 10px;border-bottom:1px solid #ddd}
      th{text-align:left;background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}
      .legend span{display:inline-block;margin-right:14px;font-size:12px}.legend i{display:inline-block;width:10px;
      height:10px;margin-right:4px;vertical-align:middle}
      </style></head><body>
      <h1>\(Self.escape(title))</h1>
      <p class="range">\(Self.escape(range))</p>

      """
    for chart in charts { page += svg(chart) }
    page += "<h2>Totals by \(Self.escape(totals.grouping))</h2>\n" + table() + "</body></html>\n"
    return page
  }

  /// One metric's daily bars, stacked by series, with a y axis and the first and last days under the x axis.
  func svg(_ chart: Chart) -> String {
    let width = 900.0
    let height = 240.0
    let left = 70.0
    let bottom = 24.0
    let top = 10.0
    let plotWidth = width - left - 10
    let plotHeight = height - bottom - top
    let stacks = chart.days.indices.map { day in chart.series.reduce(Int64(0)) { $0 &+ $1.totals[day] } }
    let peak = max(1, stacks.max() ?? 1)
    let slot = plotWidth / Double(max(1, chart.days.count))
    let barWidth = max(1, slot * 0.8)
    var shapes = ""
    for day in chart.days.indices {
      var base = 0.0
      for (position, series) in chart.series.enumerated() where series.totals[day] > 0 {
        let barHeight = Double(series.totals[day]) / Double(peak) * plotHeight
        let x = left + Double(day) * slot + (slot - barWidth) / 2
        let y = top + plotHeight - base - barHeight
        shapes +=
          "<rect x=\"\(Self.number(x))\" y=\"\(Self.number(y))\" width=\"\(Self.number(barWidth))\" "
          + "height=\"\(Self.number(barHeight))\" fill=\"\(Self.palette[position % Self.palette.count])\">"
          + "<title>\(Self.escape(chart.days[day])) \(Self.escape(series.name)): \(series.totals[day])</title></rect>\n"
        base += barHeight
      }
    }
    let axis =
      "<line x1=\"\(left)\" y1=\"\(top + plotHeight)\" x2=\"\(width - 10)\" y2=\"\(top + plotHeight)\" stroke=\"#999\"/>\n"
      + "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(top + plotHeight)\" stroke=\"#999\"/>\n"
      + "<text x=\"\(left - 6)\" y=\"\(top + 10)\" text-anchor=\"end\" font-size=\"11\">"
      + Quantity.amount(peak, unit: chart.unit) + "</text>\n"
      + "<text x=\"\(left - 6)\" y=\"\(top + plotHeight)\" text-anchor=\"end\" font-size=\"11\">0</text>\n"
      + (chart.days.first.map {
        "<text x=\"\(left)\" y=\"\(height - 6)\" font-size=\"11\">\(Self.escape($0))</text>\n"
      } ?? "")
      + (chart.days.count > 1
        ? "<text x=\"\(width - 10)\" y=\"\(height - 6)\" text-anchor=\"end\" font-size=\"11\">"
          + Self.escape(chart.days.last ?? "") + "</text>\n" : "")
    let legend = chart.series.enumerated().map { position, series in
      "<span><i style=\"background:\(Self.palette[position % Self.palette.count])\"></i>\(Self.escape(series.name))</span>"
    }.joined()
    return "<h2>\(Self.escape(chart.metric)) per day (\(Self.escape(chart.unit)))</h2>\n"
      + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
      + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(Self.escape(chart.metric)) per day\">\n"
      + axis + shapes + "</svg>\n<div class=\"legend\">\(legend)</div>\n"
  }

  /// The totals: the report's rows with their fields and cost.
  func table() -> String {
    let fields = totals.fieldColumns
    var html = "<table><thead><tr><th>metric</th><th>\(Self.escape(totals.grouping))</th><th>total</th><th>changes</th>"
    html +=
      fields.map { "<th>\(Self.escape($0))</th>" }.joined() + (totals.hasCost ? "<th>cost</th>" : "")
      + "</tr></thead><tbody>\n"
    for row in totals.rows {
      html +=
        "<tr><td>\(Self.escape(row.metric))</td><td>\(Self.escape(row.group ?? "(none)"))</td>"
        + "<td class=\"n\">\(Quantity.grouped(row.total))</td><td class=\"n\">\(Quantity.grouped(row.changes))</td>"
        + fields.map { "<td class=\"n\">\(totals.value(row, field: $0).map(Quantity.grouped) ?? "")</td>" }.joined()
        + (totals.hasCost
          ? "<td class=\"n\">"
            + (totals.shapes[row.metric]?.currency.map { Quantity.plain(row.cost) + " " + $0 } ?? "") + "</td>" : "")
        + "</tr>\n"
    }
    return html + "</tbody></table>\n"
  }

  static func number(_ value: Double) -> String { Quantity.fixed(value, digits: 1) }

  static func escape(_ text: String) -> String {
    var escaped = ""
    for character in text {
      switch character {
      case "&": escaped += "&amp;"
      case "<": escaped += "&lt;"
      case ">": escaped += "&gt;"
      case "\"": escaped += "&quot;"
      default: escaped.append(character)
      }
    }
    return escaped
  }
}
