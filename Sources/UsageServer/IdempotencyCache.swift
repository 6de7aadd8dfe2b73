import JSON
import UsageCore

/// Answers already given to mutations that carried an idempotency `key`, so a retried request is applied once.
///
/// A repeat of the same key with the same parameters gets the original answer, byte for byte, and changes nothing;
/// the same key with different parameters is refused. Keys are kept for ``retention`` (24 h) and at most
/// ``capacity`` of them, oldest first out. This cache lives in memory for the session; the durable ledger keeps
/// keys across restarts.
struct IdempotencyCache {
  struct Entry {
    let fingerprint: String
    let answer: [UInt8]
    let storedAt: Timestamp
  }

  static let retention: Int64 = 24 * 3600 * 1000
  static let capacity = 100_000

  private var entries: [String: Entry] = [:]
  private var order: [(key: String, storedAt: Timestamp)] = []
  private var head = 0

  /// The stored entry for `key`, if it is still kept at `now`.
  mutating func entry(for key: String, now: Timestamp) -> Entry? {
    expire(now: now)
    return entries[key]
  }

  mutating func store(_ key: String, fingerprint: String, answer: [UInt8], now: Timestamp) {
    expire(now: now)
    if entries.updateValue(Entry(fingerprint: fingerprint, answer: answer, storedAt: now), forKey: key) == nil {
      order.append((key, now))
    }
    while entries.count > Self.capacity, head < order.count {
      entries.removeValue(forKey: order[head].key)
      head += 1
    }
    compact()
  }

  /// Forgets `key` (its change was not recorded after all).
  mutating func forget(_ key: String) {
    entries.removeValue(forKey: key)
  }

  private mutating func expire(now: Timestamp) {
    while head < order.count, now.milliseconds - order[head].storedAt.milliseconds > Self.retention {
      entries.removeValue(forKey: order[head].key)
      head += 1
    }
    compact()
  }

  private mutating func compact() {
    if head > 1024 && head * 2 > order.count {
      order.removeFirst(head)
      head = 0
    }
  }

  /// A canonical text of a mutation's parameters (object members sorted), to tell a retry from a different request.
  static func fingerprint(method: String, params: JSONValue?) -> String {
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
