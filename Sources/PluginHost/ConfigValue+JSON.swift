import JSON
import UsageCore

extension ConfigValue {
  /// Compact JSON text, the form options take across the plugin ABI.
  var jsonText: String {
    var writer = JSONWriter()
    write(to: &writer)
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  private func write(to writer: inout JSONWriter) {
    switch self {
    case .null: writer.null()
    case .bool(let flag): writer.bool(flag)
    case .number(let number): writer.double(number)
    case .string(let text): writer.string(text: text)
    case .array(let elements):
      writer.beginArray()
      for element in elements { element.write(to: &writer) }
      writer.endArray()
    case .object(let members):
      writer.beginObject()
      for (key, member) in members.sorted(by: { $0.key < $1.key }) {
        writer.key(text: key)
        member.write(to: &writer)
      }
      writer.endObject()
    }
  }
}
