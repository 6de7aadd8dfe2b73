import JSON
import UsageCore

/// What identifies a change's params under its idempotency key: a retry with the same params gets the first answer
/// again; the same key with other params is refused.
enum Fingerprint {
  /// A canonical text of a mutation's parameters (object members sorted), to tell a retry from a different request.
  static func of(method: String, params: JSONValue?) -> String {
    var text = method + ":"
    if let params { canonical(params, into: &text) }
    return text
  }

  private static func canonical(_ value: JSONValue, into text: inout String) {
    switch value.kind {
    case .object:
      text += "{"
      for (key, member) in value.members.sorted(by: { $0.key < $1.key }) where key != "key" {
        text += key.debugDescription + ":"
        canonical(member, into: &text)
        text += ","
      }
      text += "}"
    case .array:
      text += "["
      for element in value.elements {
        canonical(element, into: &text)
        text += ","
      }
      text += "]"
    case .string: text += (value.string ?? "").debugDescription
    case .integer, .real: text += "\(value.double ?? 0)"
    case .bool: text += value.bool == true ? "true" : "false"
    case .null: text += "null"
    }
  }
}
