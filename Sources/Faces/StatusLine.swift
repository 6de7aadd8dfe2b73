import JSON
public import UsageCore

/// The one line of `usagectx status`, for a shell prompt or a status bar, in one of four formats.
public struct StatusLine: Sendable {
  /// Where the line goes.
  public enum Format: String, Sendable, CaseIterable {
    /// Plain text, coloured with ANSI escapes when the style allows it.
    case text
    /// One JSON object: the worst level, the text and each metric's numbers.
    case json
    /// tmux format strings (`#[fg=yellow]…#[default]`) for `status-right`.
    case tmux
    /// Waybar's custom module JSON: `text`, `tooltip`, `class` (the level) and `percentage`.
    case waybar
  }

  /// The default template of one metric: `tokens 65.6k/100k 65%`, the cost added where the metric has one.
  public static let defaultTemplate = "{name} {used}/{limit} {percent}%{cost?}"

  public var format: Format
  /// Per metric; placeholders: `{name} {used} {limit} {remaining} {percent} {ratio} {level} {unit} {period} {cost}
  /// {reset}` (time to the period's reset), and `{cost?}` (a space and the cost, or nothing). Unknown ones stay.
  public var template: String
  public var style: TerminalStyle

  public init(format: Format, template: String? = nil, style: TerminalStyle) {
    self.format = format
    self.template = template ?? Self.defaultTemplate
    self.style = style
  }

  /// The line for `metrics` (in their order), without a line end; `now` measures the time to each reset.
  public func render(_ metrics: [MetricSummary], now: Timestamp) -> String {
    let level = metrics.map(\.level).max() ?? .ok
    let plain = metrics.map { fill($0, now: now) }
    switch format {
    case .text:
      return zip(metrics, plain).map { style.paint($1, level: $0.level) }.joined(separator: "  ")
    case .tmux:
      guard style.enabled else { return plain.joined(separator: " ") }
      return zip(metrics, plain).map { metric, text in
        "#[fg=\(Self.tmuxColor(metric.level))]" + text.replacing("#", with: "##") + "#[default]"
      }.joined(separator: " ")
    case .waybar:
      let tooltip = metrics.map { metric in
        "\(metric.name): \(Quantity.grouped(metric.used))"
          + (metric.limit.map { " / \(Quantity.grouped($0))" } ?? "") + " \(metric.unit)"
          + " (\(Quantity.percent(metric.ratio))%, \(metric.level.rawValue))"
          + (metric.cost.map { ", " + Quantity.cost($0, currency: metric.currency) } ?? "")
      }.joined(separator: "\n")
      let percentage = Quantity.percent(metrics.map(\.ratio).max() ?? 0)
      let object: JSONData = .object([
        ("text", .string(plain.joined(separator: "  "))), ("tooltip", .string(tooltip)),
        ("class", .string(level.rawValue)), ("alt", .string(level.rawValue)), ("percentage", .int(Int64(percentage))),
      ])
      return object.jsonText
    case .json:
      let entries: [JSONData] = metrics.map { metric in
        var members: [(String, JSONData)] = [
          ("name", .string(metric.name)), ("unit", .string(metric.unit)), ("used", .int(metric.used)),
          ("limit", metric.limit.map(JSONData.int) ?? .null),
          ("remaining", metric.remaining.map(JSONData.int) ?? .null),
          ("ratio", .double(metric.ratio)), ("percent", .int(Int64(Quantity.percent(metric.ratio)))),
          ("level", .string(metric.level.rawValue)), ("period", .string(metric.period)),
        ]
        if let reset = metric.nextReset { members.append(("nextReset", .string(reset))) }
        if let cost = metric.cost {
          members.append(("cost", .double(cost)))
          members.append(("currency", metric.currency.map(JSONData.string) ?? .null))
        }
        members.append(("text", .string(fill(metric, now: now))))
        return .object(members)
      }
      let object: JSONData = .object([
        ("level", .string(level.rawValue)), ("text", .string(plain.joined(separator: "  "))),
        ("metrics", .array(entries)),
      ])
      return object.jsonText
    }
  }

  /// The template filled in for one metric.
  public func fill(_ metric: MetricSummary, now: Timestamp) -> String {
    let reset = metric.nextReset.flatMap { Timestamp(iso8601: $0) }.map {
      Quantity.duration(seconds: ($0.milliseconds - now.milliseconds) / 1000)
    }
    let cost = metric.cost.map { Quantity.cost($0, currency: metric.currency) }
    let values: [String: String] = [
      "name": metric.name,
      "used": Quantity.amount(metric.used, unit: metric.unit),
      "limit": metric.limit.map { Quantity.amount($0, unit: metric.unit) } ?? "∞",
      "remaining": metric.remaining.map { Quantity.amount($0, unit: metric.unit) } ?? "∞",
      "percent": String(Quantity.percent(metric.ratio)),
      "ratio": Quantity.fixed(metric.ratio, digits: 2),
      "level": metric.level.rawValue,
      "unit": metric.unit,
      "period": metric.period,
      "cost": cost ?? "",
      "cost?": cost.map { " " + $0 } ?? "",
      "reset": reset ?? "",
    ]
    var result = ""
    var rest = Substring(template)
    while let open = rest.firstIndex(of: "{") {
      guard let close = rest[open...].firstIndex(of: "}") else { break }
      result += rest[..<open]
      let name = String(rest[rest.index(after: open)..<close])
      result += values[name] ?? String(rest[open...close])
      rest = rest[rest.index(after: close)...]
    }
    return result + rest
  }

  static func tmuxColor(_ level: UsageLevel) -> String {
    switch level {
    case .ok: "green"
    case .warning: "yellow"
    case .exceeded: "red"
    }
  }
}
