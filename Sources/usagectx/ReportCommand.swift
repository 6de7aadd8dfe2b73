import ArgumentParser
import Glibc
import Ledger
import UsageCore

/// `usagectx report`: the ledger's history (usage per metric and per UTC day, UTC month or model) for a person, a
/// program or a spreadsheet. Reads the ledger of a state directory; never creates one.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Print recorded usage per day, month or model, as a table, JSON or CSV.",
    discussion: """
      Reads usage.sqlite3 in the state directory; a missing ledger is reported, never created. Dates are UTC: \
      --since is inclusive and --until exclusive (--since 2026-11-01 --until 2026-12-01 is November).

      Formats: table, aligned columns (changes without a model show as "(none)"); csv, RFC 4180 with a header row \
      (metric, then day, month or model, then total and changes; CRLF line ends; an empty model field for changes \
      without one); json, one object {"groupBy": "day", "rows": [{"metric": "tokens", "group": "2026-11-22", \
      "total": 1500, "changes": 3}]}, the result of usage/history, with "group": null for changes without a model. \
      Rows are ordered by metric, then by day, month or model.

      Exit status: 0 with the report on stdout; 1 when there is no ledger in the state directory; 2 for a bad \
      option value or a ledger that cannot be read: not a usagectx ledger, damaged (PRAGMA quick_check runs at \
      open) or of a newer schema (the message on stderr names the file, which is left as it was).
      """
  )

  @Option(
    help: ArgumentHelp(
      "The state directory holding usage.sqlite3 (default: $XDG_STATE_HOME/usagectx, else ~/.local/state/usagectx).",
      valueName: "dir"))
  var state: String?

  @Option(help: ArgumentHelp("Only this metric (default: every metric).", valueName: "name"))
  var metric: String?

  @Option(
    help: ArgumentHelp(
      "From this UTC date or moment, inclusive: 2026-11-01 or 2026-11-01T08:00:00Z.", valueName: "date"))
  var since: String?

  @Option(
    help: ArgumentHelp("Until this UTC date or moment, exclusive: 2026-12-01 ends with November 30.", valueName: "date")
  )
  var until: String?

  @Option(name: .customLong("by"), help: ArgumentHelp("Group by day, month or model.", valueName: "day|month|model"))
  var grouping: String = "day"

  @Option(help: ArgumentHelp("Output format.", valueName: "table|json|csv"))
  var format: String = "table"

  @Option(
    help: ArgumentHelp(
      "Read every device's usage from this PostgreSQL database instead of the state directory (also USAGECTX_AUTHORITY).",
      valueName: "postgres://…"))
  var authority: String?

  @Option(help: ArgumentHelp("The account in the --authority database (default: \"default\").", valueName: "name"))
  var account: String?

  enum Format: String {
    case table, json, csv
  }

  func run() throws {
    // Checked here rather than by the parser, whose usage errors exit with 64: option values are exit status 2.
    guard let grouping = HistoryGrouping(rawValue: grouping) else {
      throw Self.fail("--by must be day, month or model, not \(quoted: grouping)")
    }
    guard let format = Format(rawValue: format) else {
      throw Self.fail("--format must be table, json or csv, not \(quoted: format)")
    }
    let start = try since.map { text throws(ExitCode) in try Self.moment(text, option: "--since") }
    let end = try until.map { text throws(ExitCode) in try Self.moment(text, option: "--until") }
    if let start, let end, end <= start {
      throw Self.fail("--until (\(end)) must be after --since (\(start))")
    }
    if let url = authority ?? getenv("USAGECTX_AUTHORITY").map({ String(cString: $0) }).flatMap({ $0.isEmpty ? nil : $0 }) {
      let rows = try Self.sharedRows(url: url, account: account ?? "default", metric: metric, start, end, grouping)
      try printReport(rows, format, grouping: grouping)
      return
    }
    if account != nil { throw Self.fail("--account needs --authority (or USAGECTX_AUTHORITY)") }
    let environment = ["XDG_STATE_HOME", "HOME"].reduce(into: [String: String]()) { values, name in
      values[name] = getenv(name).map { String(cString: $0) }
    }
    guard let directory = state.map(Self.trimmingSlashes) ?? LedgerStore.defaultDirectory(environment: environment)
    else {
      throw Self.fail("no state directory: HOME is not set; pass --state DIR")
    }
    // LedgerStore creates what is missing, so look first.
    let path = directory + "/" + LedgerStore.fileName
    var status = stat()
    if stat(path, &status) != 0 && (errno == ENOENT || errno == ENOTDIR) {
      Self.writeAll(STDERR_FILENO, "usagectx report: no ledger at \(path): nothing has been recorded there\n")
      throw ExitCode(1)
    }
    let rows: [HistoryRow]
    do {
      let store = try LedgerStore(directory: directory)
      rows = try store.history(
        metric: metric, since: start?.milliseconds, until: end?.milliseconds, groupBy: grouping)
    } catch {
      throw Self.fail("\(error)")
    }
    try printReport(rows, format, grouping: grouping)
  }

  /// Prints `rows` in `format`.
  private func printReport(_ rows: [HistoryRow], _ format: Format, grouping: HistoryGrouping) throws {
    let text =
      switch format {
      case .table: Self.table(rows, grouping: grouping)
      case .csv: Self.csv(rows, grouping: grouping)
      case .json: Self.json(rows, grouping: grouping)
      }
    guard Self.writeAll(STDOUT_FILENO, text) else {
      throw Self.fail("cannot write the report: \(String(cString: strerror(errno)))")
    }
  }

  // MARK: - Formats

  /// Aligned columns for people (a RESET column when any group had a reset): text on the left, numbers on the right, two spaces between.
  static func table(_ rows: [HistoryRow], grouping: HistoryGrouping) -> String {
    let resets = rows.contains { $0.reset != 0 }
    let header = ["METRIC", grouping.rawValue.uppercased(), "TOTAL", "CHANGES"] + (resets ? ["RESET"] : [])
    let cells =
      [header]
      + rows.map { row in
        [printable(row.metric), row.group.map(printable) ?? "(none)", String(row.total), String(row.changes)]
          + (resets ? [String(row.reset)] : [])
      }
    let widths = header.indices.map { column in cells.map { $0[column].count }.max() ?? 0 }
    return cells.map { line in
      line.enumerated().map { column, cell in
        let padding = String(repeating: " ", count: widths[column] - cell.count)
        return column >= 2 ? padding + cell : column == line.count - 1 ? cell : cell + padding
      }.joined(separator: "  ") + "\n"
    }.joined()
  }

  /// RFC 4180: a header row (with a `reset` column when any group had a reset), CRLF line ends, fields with a comma, quote, CR or LF quoted with quotes doubled.
  static func csv(_ rows: [HistoryRow], grouping: HistoryGrouping) -> String {
    let resets = rows.contains { $0.reset != 0 }
    let lines =
      [["metric", grouping.rawValue, "total", "changes"] + (resets ? ["reset"] : [])]
      + rows.map { row in
        [row.metric, row.group ?? "", String(row.total), String(row.changes)] + (resets ? [String(row.reset)] : [])
      }
    return lines.map { fields in fields.map(csvField).joined(separator: ",") + "\r\n" }.joined()
  }

  static func csvField(_ field: String) -> String {
    guard field.unicodeScalars.contains(where: { $0 == "," || $0 == "\"" || $0 == "\r" || $0 == "\n" }) else {
      return field
    }
    return "\"" + field.replacing("\"", with: "\"\"") + "\""
  }

  /// `{"groupBy":"day","rows":[{"metric":…,"group":…,"total":…,"changes":…},…]}` on one line.
  static func json(_ rows: [HistoryRow], grouping: HistoryGrouping) -> String {
    let members = rows.map { row in
      #"{"metric":\#(jsonString(row.metric)),"group":\#(row.group.map(jsonString) ?? "null"),"#
        + #""total":\#(row.total),"changes":\#(row.changes)"# + (row.reset == 0 ? "" : #","reset":\#(row.reset)"#) + "}"
    }
    return #"{"groupBy":\#(jsonString(grouping.rawValue)),"rows":[\#(members.joined(separator: ","))]}"# + "\n"
  }

  static func jsonString(_ text: String) -> String {
    var escaped = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": escaped += "\\\""
      case "\\": escaped += "\\\\"
      case "\n": escaped += "\\n"
      case "\r": escaped += "\\r"
      case "\t": escaped += "\\t"
      case _ where scalar.value < 0x20:
        escaped += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
      default: escaped.unicodeScalars.append(scalar)
      }
    }
    return escaped + "\""
  }

  /// A table cell: control characters (which would break the columns) written as `\u{…}`.
  static func printable(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { return text }
    return text.unicodeScalars.map { scalar in
      scalar.properties.generalCategory == .control ? "\\u{\(String(scalar.value, radix: 16))}" : String(scalar)
    }.joined()
  }

  // MARK: - Arguments and output

  /// A bare UTC date (its midnight) or a full ISO 8601 UTC moment.
  static func moment(_ text: String, option: String) throws(ExitCode) -> Timestamp {
    guard let moment = Timestamp(iso8601: text) else {
      throw fail(
        "\(option) \(quoted: text) is not a UTC date or moment: write 2026-11-01, 2026-11-01T08:00:00Z or "
          + "2026-11-01T08:00:00.250Z")
    }
    return moment
  }

  static func trimmingSlashes(_ directory: String) -> String {
    var trimmed = Substring(directory)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    return String(trimmed)
  }

  /// Writes `message` to stderr and returns exit status 2 to throw.
  static func fail(_ message: String) -> ExitCode {
    writeAll(STDERR_FILENO, "usagectx report: \(message)\n")
    return ExitCode(2)
  }

  /// Writes all of `text`; `false` (with `errno`) when the descriptor refused it.
  @discardableResult
  static func writeAll(_ descriptor: Int32, _ text: String) -> Bool {
    var bytes = Array(text.utf8)[...]
    while !bytes.isEmpty {
      let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
      if written < 0 && errno == EINTR { continue }
      guard written > 0 else { return false }
      bytes = bytes.dropFirst(written)
    }
    return true
  }
}

extension DefaultStringInterpolation {
  /// `"value"`, so that an empty or spaced value shows in a message.
  fileprivate mutating func appendInterpolation(quoted value: String) {
    appendInterpolation("\"" + value + "\"")
  }
}
