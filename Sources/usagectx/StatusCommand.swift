import ArgumentParser
import Faces
import Glibc
import JSON
import Ledger
import UsageCore
import UsageServer

/// `usagectx status`: one line for a shell prompt or a status bar, its exit status the worst level shown.
struct StatusCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status",
    abstract: "Print one line of usage for a prompt or a status bar; the exit status says the level.",
    discussion: """
      Reads the state directory's ledger (its running totals, never the history; nothing is created when there is \
      none) and prints one line: text (coloured by level on a terminal unless NO_COLOR is set), json, tmux \
      (#[fg=…] format strings for status-right) or waybar (a custom module's JSON: text, tooltip, class, \
      percentage).

      --template is applied to each metric; placeholders: {name} {used} {limit} {remaining} {percent} {ratio} \
      {level} {unit} {period} {cost} {cost?} {reset}. Default: "\(StatusLine.defaultTemplate)".

      Exit status: 0 when every metric shown is ok, 1 when one is at its warning level (80 % by default), 2 when one \
      reached its limit, 3 when the usage could not be read (the reason on stderr). Scripts: \
      usagectx status --metric tokens --quiet || echo over
      """)

  @Option(
    name: .customLong("metric"), help: ArgumentHelp("Only this metric (repeatable; default: all).", valueName: "name"))
  var metrics: [String] = []

  @Option(help: ArgumentHelp("Output format.", valueName: "text|json|tmux|waybar"))
  var format: String = "text"

  @Option(help: ArgumentHelp("The text of each metric (see the discussion for placeholders).", valueName: "template"))
  var template: String?

  @Option(help: ArgumentHelp("Colour: auto (a terminal without NO_COLOR), always or never.", valueName: "when"))
  var color: String = "auto"

  @Flag(help: "Print nothing; only the exit status tells the level.")
  var quiet = false

  @OptionGroup var options: ServeOptions

  func validate() throws {
    guard StatusLine.Format(rawValue: format) != nil else {
      throw ValidationError("--format must be text, json, tmux or waybar")
    }
    guard ["auto", "always", "never"].contains(color) else {
      throw ValidationError("--color must be auto, always or never")
    }
  }

  func run() throws {
    let snapshot: UsageOverview
    var session: InProcessSession?
    do {
      // Read only, without a session; a ledger this cannot read (of an older schema, say) is read by a session.
      if let quick = try Self.readOnlySnapshot(options: options, metrics: metrics) {
        snapshot = quick
      } else {
        let opened: InProcessSession
        (snapshot, opened) = try Self.snapshot(options: options, metrics: metrics)
        session = opened
      }
    } catch let error as ExitCode {
      throw error
    } catch {
      CallCommand.printError("usagectx status: \(error)")
      throw ExitCode(3)
    }
    let shown =
      metrics.isEmpty ? snapshot.metrics : metrics.compactMap { name in snapshot.metrics.first { $0.name == name } }
    let level = shown.map(\.level).max() ?? .ok
    if !quiet {
      let format = StatusLine.Format(rawValue: format) ?? .text
      // tmux and Waybar colour the line themselves: only text needs a terminal for its escapes.
      let style = TerminalStyle.resolve(
        color, isTerminal: format != .text || isatty(STDOUT_FILENO) == 1,
        noColor: getenv("NO_COLOR").map { String(cString: $0) })
      let line = StatusLine(format: format, template: template, style: style)
      // Written at once: the session is closed after the line is out.
      ReportCommand.writeAll(STDOUT_FILENO, line.render(shown, now: SystemWallClock().now()) + "\n")
    }
    session?.finish()
    if level != .ok { throw ExitCode(level.exitStatus) }
  }

  /// The usage on the state directory read without a session and without writing (``SnapshotReader``); `nil` when
  /// it cannot be read that way.
  static func readOnlySnapshot(options: ServeOptions, metrics: [String]) throws -> UsageOverview? {
    let sidecarOptions = try options.sidecarOptions()
    do {
      let text = try SnapshotReader.read(options: sidecarOptions, metrics: metrics, logger: options.makeLogger())
      return UsageOverview(try JSONData(parsing: text))
    } catch {
      return nil
    }
  }

  /// The usage on the state directory: a session that reads the ledger's running totals and answers one
  /// `usage/get`. When there is no ledger yet, nothing is created: the session keeps its ledger in memory. The
  /// session is returned open, for the caller to finish once its line is out.
  static func snapshot(options: ServeOptions, metrics: [String]) throws -> (UsageOverview, InProcessSession) {
    var sidecarOptions = try options.sidecarOptions()
    if let directory = sidecarOptions.stateDirectory {
      var status = stat()
      if stat(directory + "/" + LedgerStore.fileName, &status) != 0 { sidecarOptions.stateDirectory = nil }
    }
    let session = try InProcessSession(options: sidecarOptions, logger: options.makeLogger())
    // Nothing is read from the metrics' authorities in the background: the answer is what the ledger holds.
    session.send("client/online", ["online": false])
    let id = session.send(
      "usage/get", metrics.isEmpty ? nil : .object([("metrics", .array(metrics.map(JSONData.string)))]))
    guard let answer = session.answer(to: id) else {
      throw session.finish() == 0 ? SessionError("the session ended without an answer") : ExitCode(3)
    }
    if let error = answer["error"] {
      session.finish()
      throw SessionError(error["message"]?.string ?? error.jsonText)
    }
    guard let result = answer["result"], let snapshot = UsageOverview(result) else {
      session.finish()
      throw SessionError("unexpected answer: \(answer.jsonText)")
    }
    return (snapshot, session)
  }
}
