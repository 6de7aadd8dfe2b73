import Faces
import Glibc

/// A one-line progress bar on stderr (a terminal): files, calls, tokens and the time left, redrawn in place.
final class ProgressBar {
  let tool: String
  let start = ContinuousClock.now
  private var shown = false
  private var drawn: ContinuousClock.Instant?

  init(tool: String) { self.tool = tool }

  /// Redraws the bar, at most ten times a second until every file is read.
  func show(_ progress: LogImporter.Progress) {
    let now = ContinuousClock.now
    if let drawn, now - drawn < .milliseconds(100), progress.files < progress.totalFiles { return }
    drawn = now
    let fraction = progress.totalBytes > 0 ? Double(progress.bytesRead) / Double(progress.totalBytes) : 0
    let width = 24
    let filled = min(width, Int(fraction * Double(width)))
    let elapsed = ContinuousClock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    let left = fraction > 0.01 ? Int64(seconds / fraction - seconds) : nil
    let line =
      "\r\u{1B}[Kimport \(tool) [" + String(repeating: "#", count: filled)
      + String(repeating: ".", count: width - filled)
      + "] \(Quantity.percent(fraction))%  files \(progress.files)/\(progress.totalFiles)  calls "
      + Quantity.grouped(Int64(progress.entries)) + "  tokens " + Quantity.compact(progress.tokens)
      + (left.map { "  ETA " + Quantity.duration(seconds: $0) } ?? "")
    ReportCommand.writeAll(STDERR_FILENO, line)
    shown = true
  }

  func finish() {
    if shown { ReportCommand.writeAll(STDERR_FILENO, "\r\u{1B}[K") }
  }
}
