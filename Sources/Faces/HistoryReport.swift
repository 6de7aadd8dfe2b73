import JSON
public import Ledger

/// `usagectx report`'s formats over history rows: an aligned table, RFC 4180 CSV, and the JSON of `usage/history`;
/// each with the metrics' field sums and cost with its currency when a metric shown has them.
public struct HistoryReport: Sendable {
  public var rows: [HistoryRow]
  /// The name of the grouping (`day`, `week`, `model`, `conversation`, …), the second column's header.
  public var grouping: String
  /// The metrics' field names and currencies, by name (a metric not listed has neither).
  public var shapes: [String: MetricShape]

  public init(rows: [HistoryRow], grouping: String, shapes: [MetricShape]) {
    self.rows = rows
    self.grouping = grouping
    self.shapes = Dictionary(shapes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
  }

  private var shown: [MetricShape] {
    var names: [String] = []
    for row in rows where !names.contains(row.metric) { names.append(row.metric) }
    return names.compactMap { shapes[$0] }
  }

  /// The field columns: every field of a metric shown.
  var fieldColumns: [String] { MetricShape.fieldColumns(shown) }
  /// Whether a metric shown has a cost.
  var hasCost: Bool { shown.contains { $0.currency != nil } }
  var hasReset: Bool { rows.contains { $0.reset != 0 } }

  /// A row's value of a field column; `nil` when its metric has no such field.
  func value(_ row: HistoryRow, field: String) -> Int64? {
    guard let position = shapes[row.metric]?.fields.firstIndex(of: field), position < row.fields.count else {
      return nil
    }
    return row.fields[position]
  }

  /// Aligned columns for people: text on the left, numbers on the right, two spaces between; `(none)` for changes
  /// without the grouping's label; a RESET column when a group had a reset; field columns; COST with its currency.
  public func table() -> String {
    let fields = fieldColumns
    let header =
      ["METRIC", grouping.uppercased(), "TOTAL", "CHANGES"] + (hasReset ? ["RESET"] : [])
      + fields.map { $0.uppercased() }
      + (hasCost ? ["COST"] : [])
    let cells =
      [header]
      + rows.map { row in
        [Self.printable(row.metric), row.group.map(Self.printable) ?? "(none)", String(row.total), String(row.changes)]
          + (hasReset ? [String(row.reset)] : []) + fields.map { value(row, field: $0).map(String.init) ?? "" }
          + (hasCost ? [shapes[row.metric]?.currency.map { Quantity.plain(row.cost) + " " + $0 } ?? ""] : [])
      }
    let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
    return cells.map { line in
      var text = line.enumerated().map { column, cell in
        let padding = String(repeating: " ", count: widths[column] - cell.count)
        return column >= 2 ? padding + cell : column == line.count - 1 ? cell : cell + padding
      }.joined(separator: "  ")
      // Rows of metrics without the last columns end early.
      while text.hasSuffix(" ") { text.removeLast() }
      return text + "\n"
    }.joined()
  }

  /// RFC 4180: a header row, CRLF line ends, fields with a comma, quote, CR or LF quoted with quotes doubled; a
  /// `reset` column when a group had a reset, then the field columns, then `cost` and `currency`.
  public func csv() -> String {
    let fields = fieldColumns
    let lines =
      [
        ["metric", grouping, "total", "changes"] + (hasReset ? ["reset"] : []) + fields
          + (hasCost ? ["cost", "currency"] : [])
      ]
      + rows.map { row in
        [row.metric, row.group ?? "", String(row.total), String(row.changes)] + (hasReset ? [String(row.reset)] : [])
          + fields.map { value(row, field: $0).map(String.init) ?? "" }
          + (hasCost
            ? (shapes[row.metric]?.currency.map { [Quantity.plain(row.cost), $0] } ?? ["", ""]) : [])
      }
    return lines.map { fields in fields.map(Self.csvField).joined(separator: ",") + "\r\n" }.joined()
  }

  /// `{"groupBy":"day","rows":[{"metric":…,"group":…,"total":…,"changes":…,"input":…,"cost":…,"currency":…},…]}`:
  /// what `usage/history` answers.
  public func json() -> String {
    let members: [JSONData] = rows.map { row in
      var object: [(String, JSONData)] = [
        ("metric", .string(row.metric)), ("group", row.group.map(JSONData.string) ?? .null),
        ("total", .int(row.total)), ("changes", .int(row.changes)),
      ]
      if row.reset != 0 { object.append(("reset", .int(row.reset))) }
      if let shape = shapes[row.metric] {
        for (position, field) in shape.fields.enumerated() where position < row.fields.count {
          object.append((field, .int(row.fields[position])))
        }
        if let currency = shape.currency {
          object.append(("cost", .double(Quantity.rounded(row.cost))))
          object.append(("currency", .string(currency)))
        }
      }
      return .object(object)
    }
    return JSONData.object([("groupBy", .string(grouping)), ("rows", .array(members))]).jsonText + "\n"
  }

  public static func csvField(_ field: String) -> String {
    guard field.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else {
      return field
    }
    return "\"" + field.replacing("\"", with: "\"\"") + "\""
  }

  /// A table cell: control characters (which would break the columns) written as `\u{…}`.
  public static func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
    return text.unicodeScalars.map { scalar in
      scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
    }.joined()
  }
}
