/// ANSI styling, or none: colours are written only when the output is a terminal and `NO_COLOR` is not set
/// (https://no-color.org), unless asked for explicitly.
public struct TerminalStyle: Sendable, Equatable {
  /// Whether escape sequences are written.
  public var enabled: Bool

  public init(enabled: Bool) { self.enabled = enabled }

  /// `auto`: colour when `isTerminal` and `NO_COLOR` is unset or empty; `always`, `never`.
  public static func resolve(_ choice: String, isTerminal: Bool, noColor: String?) -> TerminalStyle {
    switch choice {
    case "always": TerminalStyle(enabled: true)
    case "never": TerminalStyle(enabled: false)
    default: TerminalStyle(enabled: isTerminal && (noColor ?? "").isEmpty)
    }
  }

  /// Standard foreground colours.
  public enum Color: Int, Sendable {
    case red = 31, green = 32, yellow = 33, blue = 34, magenta = 35, cyan = 36, gray = 90
  }

  /// The colour of a level: green, yellow, red.
  public static func color(of level: UsageLevel) -> Color {
    switch level {
    case .ok: .green
    case .warning: .yellow
    case .exceeded: .red
    }
  }

  public func paint(_ text: String, _ color: Color, bold: Bool = false) -> String {
    guard enabled else { return text }
    return "\u{1B}[\(bold ? "1;" : "")\(color.rawValue)m" + text + "\u{1B}[0m"
  }

  public func bold(_ text: String) -> String {
    enabled ? "\u{1B}[1m" + text + "\u{1B}[0m" : text
  }

  public func dim(_ text: String) -> String {
    enabled ? "\u{1B}[2m" + text + "\u{1B}[0m" : text
  }

  /// `text` painted in its level's colour.
  public func paint(_ text: String, level: UsageLevel) -> String {
    paint(text, Self.color(of: level))
  }
}
