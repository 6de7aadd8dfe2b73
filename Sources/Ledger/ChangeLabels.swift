/// A change's labels as the change log keeps them (the `labels` column): one JSON object with its keys in byte
/// order, so equal labels are equal text, or `NULL` when there are none. SQLite's JSON functions read it.
public enum ChangeLabels {
  /// `{"conversation":"c-1","model":"gpt-4o"}`, or `nil` for no labels.
  public static func encode(_ labels: [String: String]) -> String? {
    guard !labels.isEmpty else { return nil }
    // Built as bytes and made a string once: this runs for every change written.
    var keys = Array(labels.keys)
    keys.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    var text: [UInt8] = []
    text.reserveCapacity(labels.reduce(2) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 })
    text.append(UInt8(ascii: "{"))
    for (offset, key) in keys.enumerated() {
      if offset > 0 { text.append(UInt8(ascii: ",")) }
      quote(key, into: &text)
      text.append(UInt8(ascii: ":"))
      quote(labels[key] ?? "", into: &text)
    }
    text.append(UInt8(ascii: "}"))
    return String(decoding: text, as: UTF8.self)
  }

  private static func quote(_ value: String, into text: inout [UInt8]) {
    if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
      text.append(UInt8(ascii: "\""))
      text.append(contentsOf: value.utf8)
      text.append(UInt8(ascii: "\""))
      return
    }
    var quoted = ""
    quote(value, into: &quoted)
    text.append(contentsOf: quoted.utf8)
  }

  /// The SQL path of one label in the column: `$."name"` (quotes and backslashes in the name escaped).
  static func path(_ name: String) -> String {
    var text = "$."
    quote(name, into: &text)
    return text
  }

  static func quote(_ value: String, into text: inout String) {
    // Most labels need no escape: copied whole.
    if !value.utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
      text += "\"" + value + "\""
      return
    }
    text += "\""
    for scalar in value.unicodeScalars {
      switch scalar {
      case "\"": text += "\\\""
      case "\\": text += "\\\\"
      case "\n": text += "\\n"
      case "\r": text += "\\r"
      case "\t": text += "\\t"
      case _ where scalar.value < 0x20:
        text += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
      default: text.unicodeScalars.append(scalar)
      }
    }
    text += "\""
  }
}
