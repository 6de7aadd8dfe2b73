import ArgumentParser
import Faces
import Glibc
import JSON
import UsageCore
import UsageServer

/// `usagectx watch`: a full-screen live view of the usage on the state directory, redrawn when anything changes.
struct WatchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "watch",
    abstract: "Show the usage live, full screen: bars, limits, resets, burn rate, tokens by model, sync state.",
    discussion: """
      Holds a session on the state directory and subscribes to every metric, so a change made by any other process \
      (a sidecar, usagectx call, an import) shows within a second; the screen is redrawn in place only when \
      something changed, when the terminal is resized, and once a second for the clocks. q or Ctrl-C leaves and \
      restores the terminal. --once prints one frame and exits; so does a stdout that is not a terminal, frame \
      after frame on each change when --follow is given. Colours follow the level (green, yellow from the warning \
      level, red at the limit) unless NO_COLOR is set or --color never.
      """)

  @Flag(help: "Print one frame and exit.")
  var once = false

  @Flag(help: "When stdout is not a terminal: print a frame on every change instead of one.")
  var follow = false

  @Option(
    name: .customLong("metric"), help: ArgumentHelp("Only this metric (repeatable; default: all).", valueName: "name"))
  var metrics: [String] = []

  @Option(help: ArgumentHelp("Colour: auto (a terminal without NO_COLOR), always or never.", valueName: "when"))
  var color: String = "auto"

  @OptionGroup var options: ServeOptions

  func run() throws {
    let terminal = isatty(STDOUT_FILENO) == 1
    let style = TerminalStyle.resolve(
      color, isTerminal: terminal, noColor: getenv("NO_COLOR").map { String(cString: $0) })
    var sidecarOptions = try options.sidecarOptions()
    // Another process's change is on the screen within a few tens of milliseconds of its commit.
    sidecarOptions.ledgerLookInterval = .milliseconds(25)
    let session = try InProcessSession(options: sidecarOptions, logger: options.makeLogger())
    let subscribe = session.send(
      "usage/subscribe", metrics.isEmpty ? nil : .object([("metrics", .array(metrics.map(JSONData.string)))]))
    var overview = UsageOverview()
    var pending: [JSONData] = []
    guard let answer = session.answer(to: subscribe, other: { pending.append($0) }) else {
      session.finish()
      throw ExitCode(2)
    }
    guard let snapshot = answer["result"]?["snapshot"], let first = UsageOverview(snapshot) else {
      CallCommand.printError("usagectx watch: \(answer["error"]?["message"]?.string ?? answer.jsonText)")
      session.finish()
      throw ExitCode(2)
    }
    overview = first
    for message in pending { Self.apply(message, to: &overview) }
    if once || (!terminal && !follow) {
      let size = Self.terminalSize()
      let screen = WatchScreen(style: style, width: size.width, height: 1000)
      print(screen.lines(overview, now: SystemWallClock().now(), footer: "").joined(separator: "\n"))
      session.finish()
      return
    }
    if terminal {
      LiveScreen(session: session, overview: overview, style: style).run()
    } else {
      Self.follow(session: session, overview: overview, style: style)
    }
    session.finish()
  }

  /// Applies a `usage/changed` notification; `true` when it was one.
  @discardableResult
  static func apply(_ message: JSONData, to overview: inout UsageOverview) -> Bool {
    guard message["method"]?.string == "usage/changed", let params = message["params"] else { return false }
    overview.apply(changed: params)
    return true
  }

  /// Frames one after another on a stdout that is not a terminal, one per change, until the session ends.
  static func follow(session: InProcessSession, overview start: UsageOverview, style: TerminalStyle) {
    var overview = start
    let screen = WatchScreen(style: style, width: 100, height: 1000)
    ReportCommand.writeAll(
      STDOUT_FILENO, screen.lines(overview, now: SystemWallClock().now(), footer: "").joined(separator: "\n") + "\n\n")
    while session.readAvailable() {
      var changed = false
      for message in session.bufferedMessages() { changed = apply(message, to: &overview) || changed }
      if changed {
        ReportCommand.writeAll(
          STDOUT_FILENO,
          screen.lines(overview, now: SystemWallClock().now(), footer: "").joined(separator: "\n") + "\n\n")
      }
    }
  }

  /// The terminal's columns and rows (80 × 24 when stdout is not one).
  static func terminalSize() -> (width: Int, height: Int) {
    var size = winsize()
    guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
    return (Int(size.ws_col), Int(size.ws_row))
  }
}
