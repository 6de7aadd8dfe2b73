import ArgumentParser
import Faces
import Glibc
import Ledger
import UsageCore

/// `usagectx report`: the ledger's history (usage per metric and per UTC day, ISO week, UTC month, model or label,
/// with the metrics' fields and cost) for a person, a program or a spreadsheet. Reads the ledger of a state
/// directory; never creates one.
struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Print recorded usage per day, week, month, model or label, as a table, JSON, CSV or HTML.",
    discussion: """
      Reads usage.sqlite3 in the state directory; a missing ledger is reported, never created. Dates are UTC: \
      --since is inclusive and --until exclusive (--since 2026-11-01 --until 2026-12-01 is November).

      --by day, week (ISO 8601, YYYY-Www), month, model, or any label the changes were made with (provider, \
      conversation); --label NAME=VALUE keeps only the changes made with that label (repeatable).

      Formats: table, aligned columns (changes without a model or label show as "(none)"); csv, RFC 4180 with a \
      header row (metric, then the grouping, then total and changes; CRLF line ends; an empty field for changes \
      without a model or label); json, one object {"groupBy": "day", "rows": [{"metric": "tokens", "group": \
      "2026-11-22", "total": 1500, "changes": 3, "input": 1200, "output": 300, "cost": 0.006, "currency": "USD"}]}, \
      the result of usage/history, with "group": null for changes without a model or label. Every format adds the \
      sums of the metrics' fields (tokens: input, output) and the cost with its currency when a metric shown has \
      them. Rows are ordered by metric, then by time or by the group's name. html writes one self-contained page \
      (no script, nothing fetched): a daily bar chart per metric as inline SVG, stacked by model, and the totals.

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

  @Option(
    name: .customLong("by"),
    help: ArgumentHelp("Group by day, week, month, model or a label.", valueName: "day|week|month|model|label"))
  var grouping: String = "day"

  @Option(
    name: .customLong("label"),
    help: ArgumentHelp("Only changes made with this label (repeatable).", valueName: "name=value"))
  var labels: [String] = []

  @Option(
    name: .customLong("plugins"),
    help: ArgumentHelp("A directory of plugins that name the metrics' fields (repeatable).", valueName: "dir"))
  var pluginDirectories: [String] = []

  @Option(help: ArgumentHelp("Output format.", valueName: "table|json|csv|html"))
  var format: String = "table"

  @Option(
    help: ArgumentHelp(
      "Read every device's usage from this PostgreSQL database instead of the state directory (also USAGECTX_AUTHORITY).",
      valueName: "postgres://…"))
  var authority: String?

  @Option(help: ArgumentHelp("The account in the --authority database (default: \"default\").", valueName: "name"))
  var account: String?

  enum Format: String {
    case table, json, csv, html
  }

  func run() throws {
    // Checked here rather than by the parser, whose usage errors exit with 64: option values are exit status 2.
    guard let grouping = HistoryGrouping(rawValue: grouping) else {
      throw Self.fail("--by must be day, week, month, model or a label's name, not \(quoted: grouping)")
    }
    var filter: [String: String] = [:]
    for label in labels {
      guard let equals = label.firstIndex(of: "="), equals != label.startIndex else {
        throw Self.fail("--label must be NAME=VALUE, not \(quoted: label)")
      }
      filter[String(label[..<equals])] = String(label[label.index(after: equals)...])
    }
    guard let format = Format(rawValue: format) else {
      throw Self.fail("--format must be table, json, csv or html, not \(quoted: format)")
    }
    let start = try since.map { text throws(ExitCode) in try Self.moment(text, option: "--since") }
    let end = try until.map { text throws(ExitCode) in try Self.moment(text, option: "--until") }
    if let start, let end, end <= start {
      throw Self.fail("--until (\(end)) must be after --since (\(start))")
    }
    if let url = authority
      ?? getenv("USAGECTX_AUTHORITY").map({ String(cString: $0) }).flatMap({ $0.isEmpty ? nil : $0 })
    {
      // No charts are drawn from the account's database.
      guard format != .html else { throw Self.fail("--format html is not available with --authority") }
      let rows = try Self.sharedRows(
        url: url, account: account ?? "default", metric: metric, start, end, grouping, labels: filter)
      let report = HistoryReport(
        rows: rows, grouping: grouping.rawValue, shapes: MetricShapes.load(pluginDirectories: pluginDirectories))
      let text = format == .csv ? report.csv() : format == .json ? report.json() : report.table()
      guard Self.writeAll(STDOUT_FILENO, text) else {
        throw Self.fail("cannot write the report: \(String(cString: strerror(errno)))")
      }
      return
    }
    if account != nil { throw Self.fail("--account needs --authority (or USAGECTX_AUTHORITY)") }
    guard let directory = state.map(Self.trimmingSlashes) ?? LedgerStore.defaultDirectory()
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
    let store: LedgerStore
    do {
      store = try LedgerStore(directory: directory)
      rows = try store.history(
        metric: metric, since: start?.milliseconds, until: end?.milliseconds, groupBy: grouping, labels: filter)
    } catch {
      throw Self.fail("\(error)")
    }
    let shapes = MetricShapes.load(pluginDirectories: pluginDirectories)
    let report = HistoryReport(rows: rows, grouping: grouping.rawValue, shapes: shapes)
    let text: String
    switch format {
    case .table: text = report.table()
    case .csv: text = report.csv()
    case .json: text = report.json()
    case .html:
      let range =
        "\(start.map { "from \($0)" } ?? "from the first change") \(end.map { "until \($0)" } ?? "until now")"
        + (filter.isEmpty
          ? "" : ", " + filter.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))
      do {
        let charts = try Self.charts(
          store, rows: rows, shapes: shapes, since: start?.milliseconds, until: end?.milliseconds, labels: filter)
        text = HtmlReport(range: range, charts: charts, totals: report).html()
      } catch {
        throw Self.fail("\(error)")
      }
    }
    guard Self.writeAll(STDOUT_FILENO, text) else {
      throw Self.fail("cannot write the report: \(String(cString: strerror(errno)))")
    }
  }

  /// A daily chart per metric of the report: stacked by model when every change has one, else one series.
  static func charts(
    _ store: LedgerStore, rows: [HistoryRow], shapes: [MetricShape], since: Int64?, until: Int64?,
    labels: [String: String]
  ) throws(LedgerError) -> [HtmlReport.Chart] {
    var metrics: [String] = []
    for row in rows where !metrics.contains(row.metric) { metrics.append(row.metric) }
    var charts: [HtmlReport.Chart] = []
    for metric in metrics {
      let unit = shapes.first { $0.name == metric }?.unit ?? ""
      let models = try store.history(metric: metric, since: since, until: until, groupBy: .model, labels: labels)
      var series: [(name: String, rows: [HistoryRow])] = []
      if labels["model"] == nil, !models.isEmpty, models.allSatisfy({ $0.group != nil }) {
        for model in models.sorted(by: { $0.total > $1.total }) {
          guard let name = model.group else { continue }
          var only = labels
          only["model"] = name
          series.append(
            (name, try store.history(metric: metric, since: since, until: until, groupBy: .day, labels: only)))
        }
      } else {
        series = [
          (metric, try store.history(metric: metric, since: since, until: until, groupBy: .day, labels: labels))
        ]
      }
      charts.append(HtmlReport.chart(metric: metric, unit: unit, series: series))
    }
    return charts
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
