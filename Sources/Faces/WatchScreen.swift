public import UsageCore

/// One frame of `usagectx watch`: a bar per metric (green below the warning level, yellow from it, red at the
/// limit), used / limit in the metric's unit, the period with the time to its reset, the burn rate and where it
/// leads by the reset, the sync state, and for metrics with a breakdown (tokens) one line per entry with its fields
/// and cost. Pure text: the command puts it on the screen.
public struct WatchScreen: Sendable {
  public var style: TerminalStyle
  /// Columns and rows available.
  public var width: Int
  public var height: Int

  public init(style: TerminalStyle, width: Int, height: Int) {
    self.style = style
    self.width = max(40, width)
    self.height = max(5, height)
  }

  /// The frame's lines (at most `height`, each at most `width` columns of text, escapes aside).
  public func lines(_ overview: UsageOverview, now: Timestamp, footer: String = "q quits") -> [String] {
    var lines: [String] = []
    let title = "usagectx watch · tier \(overview.tier) · \(now.iso8601.prefix(19).replacing("T", with: " ")) UTC"
    lines.append(
      style.bold(fit(title, width - footer.count - 1))
        + pad(width - min(title.count, width - footer.count - 1) - footer.count) + style.dim(footer))
    lines.append("")
    let nameWidth = min(14, max(8, overview.metrics.map(\.name.count).max() ?? 8))
    let barWidth = max(10, min(40, width - nameWidth - 46))
    for metric in overview.metrics {
      lines.append(barLine(metric, nameWidth: nameWidth, barWidth: barWidth))
      lines.append(pad(nameWidth + 2) + style.dim(fit(detailLine(metric, now: now), width - nameWidth - 2)))
      if !metric.breakdown.isEmpty { lines += breakdownLines(metric, indent: nameWidth + 2) }
    }
    if lines.count > height {
      lines = Array(lines.prefix(height - 1)) + [style.dim("… (\(lines.count - height + 1) more lines)")]
    }
    return lines
  }

  /// `tokens   [██████░░░░]  65.6k / 100k tokens   65%  $0.21`
  func barLine(_ metric: MetricSummary, nameWidth: Int, barWidth: Int) -> String {
    let filled = metric.limit == nil ? 0 : min(barWidth, Int((min(metric.ratio, 1) * Double(barWidth)).rounded(.down)))
    let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: barWidth - filled)
    let used = Quantity.amount(metric.used, unit: metric.unit)
    let limit = metric.limit.map { Quantity.amount($0, unit: metric.unit) } ?? "no limit"
    let unit = metric.unit == "bytes" ? "" : " " + metric.unit
    let percent = metric.limit == nil ? "" : String(Quantity.percent(metric.ratio)) + "%"
    let cost = metric.cost.map { "  " + Quantity.cost($0, currency: metric.currency) } ?? ""
    let text = "\(used) / \(limit)\(unit)"
    return style.bold(metric.name.padding(nameWidth)) + "  " + style.paint(bar, level: metric.level) + "  "
      + style.paint(text, level: metric.level) + "  " + percent.leftPadding(4) + cost
  }

  /// The period, the time to its reset, the burn rate and projection, and the sync state.
  func detailLine(_ metric: MetricSummary, now: Timestamp) -> String {
    var parts: [String] = []
    if metric.period == "unlimited" {
      parts.append("no period")
    } else if let reset = metric.nextReset.flatMap({ Timestamp(iso8601: $0) }) {
      parts.append(
        "\(metric.period), resets in " + Quantity.duration(seconds: (reset.milliseconds - now.milliseconds) / 1000))
      if let start = metric.periodStart.flatMap({ Timestamp(iso8601: $0) }) {
        let elapsed = Double(max(1, now.milliseconds - start.milliseconds))
        let length = Double(max(1, reset.milliseconds - start.milliseconds))
        let perDay = Double(metric.used) / elapsed * 86_400_000
        let projected = Int64((Double(metric.used) / elapsed * length).rounded())
        parts.append(
          "burn " + Quantity.amount(Int64(perDay.rounded()), unit: metric.unit) + "/day → "
            + Quantity.amount(projected, unit: metric.unit) + " by reset"
            + (metric.limit.map { projected > $0 ? " (over)" : "" } ?? ""))
      }
    } else {
      parts.append(metric.period)
    }
    parts.append(syncText(metric, now: now))
    return parts.joined(separator: " · ")
  }

  func syncText(_ metric: MetricSummary, now: Timestamp) -> String {
    let age = metric.lastSyncedAt.flatMap { Timestamp(iso8601: $0) }.map {
      Quantity.duration(seconds: (now.milliseconds - $0.milliseconds) / 1000) + " ago"
    }
    switch metric.syncState {
    case "loading": return "syncing"
    case "error": return "sync error: \(metric.syncError ?? "?")" + (age.map { " (last ok \($0))" } ?? "")
    case nil: return "sync ?"
    default: return "synced" + (age.map { " \($0)" } ?? "")
    }
  }

  func breakdownLines(_ metric: MetricSummary, indent: Int) -> [String] {
    let fieldNames = metric.breakdown.first?.fields.map(\.name) ?? []
    let nameWidth = min(28, max(8, metric.breakdown.map(\.name.count).max() ?? 8))
    let header =
      "by \(metric.name == "tokens" ? "model" : "entry")".padding(nameWidth) + "  "
      + fieldNames.map { $0.leftPadding(10) }.joined(separator: " ") + "  " + "cost".leftPadding(10)
    var lines = [pad(indent) + style.dim(fit(header, width - indent))]
    for entry in metric.breakdown.sorted(by: { $0.used > $1.used }) {
      let values = entry.fields.map { Quantity.grouped($0.value).leftPadding(10) }.joined(separator: " ")
      let cost = entry.cost.map { Quantity.cost($0, currency: metric.currency) } ?? "-"
      lines.append(
        pad(indent)
          + fit(
            fit(entry.name, nameWidth).padding(nameWidth) + "  " + values + "  " + cost.leftPadding(10), width - indent)
      )
    }
    return lines
  }

  func fit(_ text: String, _ columns: Int) -> String {
    text.count <= columns ? text : String(text.prefix(max(0, columns - 1))) + "…"
  }

  func pad(_ count: Int) -> String { String(repeating: " ", count: max(0, count)) }
}

extension String {
  fileprivate func padding(_ width: Int) -> String {
    count >= width ? self : self + String(repeating: " ", count: width - count)
  }
  fileprivate func leftPadding(_ width: Int) -> String {
    count >= width ? self : String(repeating: " ", count: width - count) + self
  }
}
