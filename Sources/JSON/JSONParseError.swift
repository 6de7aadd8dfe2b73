internal import CJansson

/// Why a JSON text was refused.
public struct JSONParseError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The class of problem; each maps to a different JSON-RPC answer.
  public enum Kind: String, Equatable, Sendable {
    /// Not valid JSON (including truncated text and invalid UTF-8).
    case syntax
    /// Nested deeper than the limit.
    case tooDeep
  }

  public let kind: Kind
  /// What the parser said.
  public let message: String
  /// Byte offset of the problem, when known.
  public let position: Int?
  /// The limit that was passed, for `tooDeep`.
  public let limit: Int?

  public init(_ kind: Kind, _ message: String, position: Int?, limit: Int? = nil) {
    self.kind = kind
    self.message = message
    self.position = position
    self.limit = limit
  }

  init(jansson error: json_error_t) {
    var error = error
    let text = withUnsafeBytes(of: &error.text) { raw in
      let bytes = raw.prefix { $0 != 0 }
      return String(decoding: bytes, as: UTF8.self)
    }
    let code = json_error_code(&error)
    if code == json_error_stack_overflow {
      self.init(.tooDeep, text, position: Int(error.position), limit: nil)
    } else {
      self.init(.syntax, text, position: Int(error.position))
    }
  }

  public var description: String {
    position.map { "\(message) (at byte \($0))" } ?? message
  }
}
