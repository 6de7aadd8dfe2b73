/// A JSON-RPC error code. Open for extension: applications add their own codes as static members.
public struct RPCErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: Int
  public init(rawValue: Int) { self.rawValue = rawValue }

  /// Invalid JSON was received (also invalid UTF-8, a bad frame header, a frame cut short).
  public static let parseError = RPCErrorCode(rawValue: -32700)
  /// The JSON sent is not a valid Request object (also: too large, too deeply nested, batch too large).
  public static let invalidRequest = RPCErrorCode(rawValue: -32600)
  /// The method does not exist.
  public static let methodNotFound = RPCErrorCode(rawValue: -32601)
  /// Invalid method parameters; `data.field` names the offending one.
  public static let invalidParams = RPCErrorCode(rawValue: -32602)
  /// An internal error.
  public static let internalError = RPCErrorCode(rawValue: -32603)
  /// The request was cancelled by `$/cancelRequest` (LSP's code).
  public static let requestCancelled = RPCErrorCode(rawValue: -32800)

  /// The message the specification gives for its own codes.
  public var standardMessage: String? {
    switch rawValue {
    case -32700: return "Parse error"
    case -32600: return "Invalid Request"
    case -32601: return "Method not found"
    case -32602: return "Invalid params"
    case -32603: return "Internal error"
    case -32800: return "Request cancelled"
    default: return nil
    }
  }

  public var description: String { "\(rawValue)" }
}
