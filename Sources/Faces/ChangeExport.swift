import JSON
public import Ledger
import UsageCore

/// `usagectx export`'s formats: one line per row of the change log, with its time, metric, kind, amount, how many
/// changes the row holds, the metric's fields by name, model, provider, conversation, cost with currency, key and
/// (JSON Lines) every label.
public struct ChangeExport: Sendable {
  public enum Format: String, Sendable, CaseIterable {
    /// RFC 4180 with a header row and CRLF line ends.
    case csv
    /// One JSON object per line.
    case jsonl
  }

  public var format: Format
  /// The metrics' field names and currencies, by name.
  public var shapes: [String: MetricShape]
  /// The field columns of the CSV: every field of every metric known.
  public let fieldColumns: [String]

  public init(format: Format, shapes: [MetricShape]) {
    self.format = format
    self.shapes = Dictionary(shapes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    fieldColumns = MetricShape.fieldColumns(shapes)
  }

  /// The CSV's header line; `nil` for JSON Lines.
  public func header() -> String? {
    guard format == .csv else { return nil }
    let columns =
      ["time", "metric", "kind", "amount", "changes"] + fieldColumns
      + ["model", "provider", "conversation", "cost", "currency", "key"]
    return columns.map(HistoryReport.csvField).joined(separator: ",") + "\r\n"
  }

  /// One row, with its line end.
  public func line(_ row: ChangeRow) -> String {
    // The ledger writes the labels as JSON; unreadable ones are left out.
    let labels = row.labels.flatMap { try? JSONData(parsing: $0) }  // harmless: left out
    let shape = shapes[row.metric]
    let time = Timestamp(milliseconds: row.at).iso8601
    let kind = row.kind == .reset ? "reset" : "change"
    let model = row.label ?? labels?["model"]?.string
    switch format {
    case .csv:
      let fields = fieldColumns.map { name -> String in
        guard let position = shape?.fields.firstIndex(of: name), position < row.fields.count else { return "" }
        return String(row.fields[position])
      }
      let cells =
        [time, row.metric, kind, String(row.delta), String(row.count)] + fields
        + [
          model ?? "", labels?["provider"]?.string ?? "", labels?["conversation"]?.string ?? "",
          shape?.currency == nil ? "" : Quantity.plain(row.cost), shape?.currency ?? "", row.key ?? "",
        ]
      return cells.map(HistoryReport.csvField).joined(separator: ",") + "\r\n"
    case .jsonl:
      var object: [(String, JSONData)] = [
        ("time", .string(time)), ("metric", .string(row.metric)), ("kind", .string(kind)), ("amount", .int(row.delta)),
        ("changes", .int(row.count)),
      ]
      for (position, name) in (shape?.fields ?? []).enumerated() where position < row.fields.count {
        object.append((name, .int(row.fields[position])))
      }
      if let model { object.append(("model", .string(model))) }
      for name in ["provider", "conversation"] {
        if let value = labels?[name]?.string { object.append((name, .string(value))) }
      }
      if let currency = shape?.currency {
        object.append(("cost", .double(Quantity.rounded(row.cost))))
        object.append(("currency", .string(currency)))
      }
      if let key = row.key { object.append(("key", .string(key))) }
      if let labels { object.append(("labels", labels)) }
      return JSONData.object(object).jsonText + "\n"
    }
  }
}
