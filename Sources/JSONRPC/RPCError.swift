public import JSON

/// An error answer: code, message and optional structured data, as it goes on the wire.
public struct RPCError: Error, Equatable, Sendable, CustomStringConvertible {
  public var code: RPCErrorCode
  public var message: String
  public var data: JSONData?

  public init(_ code: RPCErrorCode, _ message: String? = nil, data: JSONData? = nil) {
    self.code = code
    self.message = message ?? code.standardMessage ?? "Error"
    self.data = data
  }

  public static func parseError(_ reason: String, detail: String? = nil) -> RPCError {
    var members: [(String, JSONData)] = [("reason", .string(reason))]
    if let detail { members.append(("detail", .string(detail))) }
    return RPCError(.parseError, data: .object(members))
  }

  public static func invalidRequest(_ reason: String, detail: String? = nil, limit: Int? = nil) -> RPCError {
    var members: [(String, JSONData)] = [("reason", .string(reason))]
    if let detail { members.append(("detail", .string(detail))) }
    if let limit { members.append(("limit", .int(Int64(limit)))) }
    return RPCError(.invalidRequest, data: .object(members))
  }

  public static func methodNotFound(_ method: String) -> RPCError {
    RPCError(.methodNotFound, data: ["method": .string(method)])
  }

  /// Invalid params, naming the offending field and why, with the offending value when it helps.
  public static func invalidParams(field: String, _ reason: String, value: JSONData? = nil) -> RPCError {
    var members: [(String, JSONData)] = [("field", .string(field)), ("reason", .string(reason))]
    if let value { members.append(("value", value)) }
    return RPCError(.invalidParams, "Invalid params: \(field) \(reason)", data: .object(members))
  }

  public static func internalError(_ detail: String) -> RPCError {
    RPCError(.internalError, data: ["detail": .string(detail)])
  }

  /// Writes the `error` object.
  public func write(to writer: inout JSONWriter) {
    writer.beginObject()
    writer.key("code")
    writer.int(code.rawValue)
    writer.key("message")
    writer.string(text: message)
    if let data {
      writer.key("data")
      writer.value(data)
    }
    writer.endObject()
  }

  public var description: String { "\(code.rawValue) \(message)" + (data.map { " \($0.jsonText)" } ?? "") }
}
