import ArgumentParser
import Faces
import Glibc
import Ledger
import UsageCore

/// `usagectx export`: every recorded change, one row each, for a spreadsheet or another program. Reads the ledger of
/// a state directory; never creates one.
struct ExportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "export",
    abstract: "Write every recorded change as CSV or JSON Lines, one row per change.",
    discussion: """
      Columns: time (UTC, to the millisecond), metric, kind (change or reset), amount (signed), changes (how many \
      changes the row holds: changes made without a key in one burst share a row, and days older than the 90-day \
      retention are rolled up into one row per metric, label and kind), the metrics' fields (tokens: input, output), \
      model, provider, conversation, cost, currency and key. JSON Lines adds every label under "labels". --since is \
      inclusive and --until exclusive, as in usagectx report.

      Exit status: 0 with the rows on stdout; 1 when there is no ledger in the state directory; 2 for a bad option \
      value or a ledger that cannot be read.
      """)

  @Option(
    help: ArgumentHelp("The state directory holding usage.sqlite3 (default as in usagectx report).", valueName: "dir"))
  var state: String?

  @Option(help: ArgumentHelp("Only this metric (default: every metric).", valueName: "name"))
  var metric: String?

  @Option(help: ArgumentHelp("From this UTC date or moment, inclusive.", valueName: "date"))
  var since: String?

  @Option(help: ArgumentHelp("Until this UTC date or moment, exclusive.", valueName: "date"))
  var until: String?

  @Option(help: ArgumentHelp("Output format.", valueName: "csv|jsonl"))
  var format: String = "csv"

  @Option(
    name: .customLong("plugins"),
    help: ArgumentHelp("A directory of plugins that name the metrics' fields (repeatable).", valueName: "dir"))
  var pluginDirectories: [String] = []

  func run() throws {
    guard let format = ChangeExport.Format(rawValue: format) else {
      throw Self.fail("--format must be csv or jsonl, not \"\(format)\"")
    }
    let range = try LedgerLocation.range(since: since, until: until, fail: Self.fail)
    let store = try LedgerLocation.open(state: state, command: "export", fail: Self.fail)
    let export = ChangeExport(format: format, shapes: MetricShapes.load(pluginDirectories: pluginDirectories))
    var output = export.header() ?? ""
    var failed = false
    do {
      try store.forEachChange(metric: metric, since: range.since, until: range.until) { row in
        output += export.line(row)
        if output.utf8.count >= 1 << 16 {
          failed = failed || !ReportCommand.writeAll(STDOUT_FILENO, output)
          output = ""
        }
      }
    } catch {
      throw Self.fail("\(error)")
    }
    if failed || !ReportCommand.writeAll(STDOUT_FILENO, output) {
      throw Self.fail("cannot write the rows: \(String(cString: strerror(errno)))")
    }
  }

  /// Writes `message` to stderr and returns exit status 2 to throw.
  static func fail(_ message: String) -> ExitCode {
    ReportCommand.writeAll(STDERR_FILENO, "usagectx export: \(message)\n")
    return ExitCode(2)
  }
}
