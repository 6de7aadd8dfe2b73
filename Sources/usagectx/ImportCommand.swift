import ArgumentParser
import Faces
import Foundation
import Glibc
import Ledger
import PluginHost
import UsageCore
import UsageServer

/// `usagectx import claude|codex [PATH…]`: brings the tokens LLM tools logged into the tokens metric, each call at
/// its own time, priced by the price table, counted once however often it is imported.
struct ImportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Import the token usage Claude Code or Codex logged into the tokens metric.",
    discussion: """
      claude reads Claude Code's session logs: the PATHs given, else every projects/ directory of \
      CLAUDE_CONFIG_DIR (comma-separated), else ~/.config/claude/projects and ~/.claude/projects. codex reads Codex \
      CLI's: the PATHs given, else $CODEX_HOME/sessions, else ~/.codex/sessions. Directories are searched for \
      .jsonl files.

      Each call is recorded at the time it was logged with its input, output, cacheRead and cacheWrite tokens, its \
      model, provider and session (labels model, provider, conversation and tool), priced by the price table. It is \
      keyed by its message and request ids (Codex: its session and running total), so importing the same logs again \
      counts nothing twice. Lines that cannot be read are counted and reported; they never stop the import. A \
      progress bar goes to stderr when it is a terminal; the summary goes to stdout.

      Exit status: 0 when the import ran (also with malformed lines); 2 when the ledger cannot be written or an \
      option is wrong.
      """)

  @Argument(help: ArgumentHelp("Whose logs.", valueName: "claude|codex"))
  var tool: String

  @Argument(help: ArgumentHelp("Log files or directories (default: the tool's own).", valueName: "path"))
  var paths: [String] = []

  @Option(help: ArgumentHelp("The metric to count the tokens in.", valueName: "name"))
  var metric: String = "tokens"

  @Flag(help: "Read and count, write nothing.")
  var dryRun = false

  @OptionGroup var options: ServeOptions

  func run() throws {
    guard let tool = LogImporter.Tool(rawValue: tool) else {
      throw Self.fail("the tool must be claude or codex, not \"\(tool)\"")
    }
    let sidecarOptions = try options.sidecarOptions()
    guard let directory = sidecarOptions.stateDirectory else {
      throw Self.fail("--no-state: there is no ledger to import into")
    }
    let catalog = PluginCatalog.load(
      searchPath: sidecarOptions.searchPath, configuration: sidecarOptions.configuration, logger: options.makeLogger())
    defer { catalog.shutdown() }
    var hook: (any MeasureHook)?
    var found = false
    for plugin in catalog.plugins {
      let pluginOptions = sidecarOptions.configuration.plugins[plugin.info.name] ?? .null
      // A plugin that refuses its options does not provide the metric; that is reported below.
      let definitions = (try? plugin.metrics(options: pluginOptions)) ?? []  // harmless: reported below
      for definition in definitions where definition.descriptor.name == metric {
        hook = definition.hook
        found = true
      }
    }
    guard found else { throw Self.fail("no plugin provides the metric \(metric)") }

    let environment = ProcessInfo.processInfo.environment
    let sources = paths.isEmpty ? LogImporter.defaultPaths(tool, environment: environment) : paths
    let files = LogImporter.logFiles(sources)
    let store: LedgerStore?
    do {
      var status = stat()
      let exists = stat(directory + "/" + LedgerStore.fileName, &status) == 0
      store = dryRun && !exists ? nil : try LedgerStore(directory: directory)
    } catch {
      throw Self.fail("\(error)")
    }
    let importer: LogImporter
    do {
      importer = try LogImporter(tool: tool, metric: metric, store: store, hook: hook, dryRun: dryRun)
    } catch {
      throw Self.fail("\(error)")
    }
    let bar = isatty(STDERR_FILENO) == 1 ? ProgressBar(tool: tool.rawValue) : nil
    importer.onProgress = { bar?.show($0) }
    do {
      try importer.run(files)
    } catch {
      bar?.finish()
      throw Self.fail("\(error)")
    }
    bar?.finish()
    print(Self.summary(importer.progress, tool: tool, sources: sources, dryRun: dryRun))
  }

  /// What the import did, for people.
  static func summary(_ progress: LogImporter.Progress, tool: LogImporter.Tool, sources: [String], dryRun: Bool)
    -> String
  {
    var lines: [String] = []
    if progress.totalFiles == 0 {
      lines.append(
        "no \(tool.rawValue) logs found"
          + (sources.isEmpty ? " in the default places" : " in " + sources.joined(separator: ", ")))
    }
    lines.append(
      (dryRun ? "would import" : "imported") + " \(Quantity.grouped(Int64(progress.imported))) of "
        + "\(Quantity.grouped(Int64(progress.entries))) calls from \(progress.files) files: "
        + "\(Quantity.grouped(progress.tokens)) tokens, \(Quantity.cost(progress.cost, currency: "USD"))")
    if progress.alreadyImported > 0 {
      lines.append("\(Quantity.grouped(Int64(progress.alreadyImported))) already imported before, counted once")
    }
    if progress.unpriced > 0 {
      lines.append(
        "\(Quantity.grouped(Int64(progress.unpriced))) calls of models without a price, counted at zero cost")
    }
    if progress.malformed > 0 {
      lines.append("\(Quantity.grouped(Int64(progress.malformed))) malformed lines skipped")
    }
    if dryRun { lines.append("dry run: nothing was written") }
    return lines.joined(separator: "\n")
  }

  static func fail(_ message: String) -> ExitCode {
    ReportCommand.writeAll(STDERR_FILENO, "usagectx import: \(message)\n")
    return ExitCode(2)
  }
}
