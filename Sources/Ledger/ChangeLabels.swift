/// A change's labels as the change log keeps them (the `labels` column): one JSON object with its keys in byte
/// order, so equal labels are equal text, or `NULL` when there are none. SQLite's JSON functions read it.
public enum ChangeLabels {
  /// `{"conversation":"c-1","model":"gpt-4o"}`, or `nil` for no labels.
  public static func encode(_ labels: [String: String]) -> String? {
    guard !labels.isEmpty else { return nil }
    var text = "{"
    for (offset, key) in labels.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }).enumerated() {
      if offset > 0 { text += "," }
      quote(key, into: &text)
      text += ":"
      quote(labels[key] ?? "", into: &text)
    }
    return text + "}"
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
