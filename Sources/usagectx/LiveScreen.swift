import Faces
import Glibc
import UsageCore

/// The terminal while `usagectx watch` runs: raw keys, the alternate screen, no cursor; frames drawn in place (home,
/// each line cleared to its end, the rest of the screen cleared) in one write, so nothing flickers. Everything is
/// put back when it ends.
final class LiveScreen {
  private let session: InProcessSession
  private var overview: UsageOverview
  private let style: TerminalStyle
  private var saved = termios()
  private var lastFrame = ""

  init(session: InProcessSession, overview: UsageOverview, style: TerminalStyle) {
    self.session = session
    self.overview = overview
    self.style = style
  }

  /// Runs until q, Ctrl-C or the end of the session.
  func run() {
    enter()
    defer { leave() }
    draw()
    var fds = [
      pollfd(fd: session.readDescriptor, events: Int16(POLLIN), revents: 0),
      pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0),
    ]
    var lastSecond = SystemWallClock().now().milliseconds / 1000
    while true {
      // A short wait: resizes are noticed and the clocks move without a signal handler.
      let ready = poll(&fds, 2, 200)
      if ready < 0 && errno != EINTR { return }
      if fds[1].revents & Int16(POLLIN) != 0 {
        var byte: UInt8 = 0
        if read(STDIN_FILENO, &byte, 1) == 1, byte == UInt8(ascii: "q") || byte == UInt8(ascii: "Q") || byte == 3 {
          return
        }
      }
      if fds[0].revents & Int16(POLLIN | POLLHUP) != 0 {
        guard session.readAvailable() else { return }
        for message in session.bufferedMessages() { WatchCommand.apply(message, to: &overview) }
      }
      let second = SystemWallClock().now().milliseconds / 1000
      if second != lastSecond {
        lastSecond = second
        lastFrame = ""  // the clocks moved
      }
      draw()
    }
  }

  /// Draws the frame when it differs from the one on the screen.
  private func draw() {
    let size = WatchCommand.terminalSize()
    let screen = WatchScreen(style: style, width: size.width, height: size.height)
    let lines = screen.lines(overview, now: SystemWallClock().now())
    let frame = "\u{1B}[H" + lines.map { $0 + "\u{1B}[K" }.joined(separator: "\r\n") + "\u{1B}[J"
    guard frame != lastFrame else { return }
    lastFrame = frame
    ReportCommand.writeAll(STDOUT_FILENO, frame)
  }

  private func enter() {
    tcgetattr(STDIN_FILENO, &saved)
    var raw = saved
    raw.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG)
    raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
    withUnsafeMutableBytes(of: &raw.c_cc) { cc in
      cc[Int(VMIN)] = 0
      cc[Int(VTIME)] = 0
    }
    tcsetattr(STDIN_FILENO, TCSANOW, &raw)
    // The alternate screen, the cursor hidden, the screen cleared.
    ReportCommand.writeAll(STDOUT_FILENO, "\u{1B}[?1049h\u{1B}[?25l\u{1B}[2J")
  }

  private func leave() {
    ReportCommand.writeAll(STDOUT_FILENO, "\u{1B}[0m\u{1B}[?25h\u{1B}[?1049l")
    tcsetattr(STDIN_FILENO, TCSANOW, &saved)
  }
}
