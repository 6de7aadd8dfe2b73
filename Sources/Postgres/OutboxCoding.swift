import JSON
import Ledger
import UsageCore

/// How the changes of a burst travel to `usagectx.apply` (JSON arrays) and how a change waiting for PostgreSQL is
/// kept in the local outbox: its metric, label, labels, kind, fields and cost in the entry's metric column after the
/// prefix `postgres:` (so the outbox of exec plugins never mistakes it for one of theirs). Entries kept by builds
/// before labels were sent have none but the model (`label`).
enum OutboxCoding {
  /// Keys usagectx makes for changes without one: `usagectx:SESSION:BURST[:offline]:POSITION`.
  static func isMade(_ key: String) -> Bool { key.hasPrefix("usagectx:") }

  /// The burst a made key belongs to (everything before its last `:`).
  static func burst(of key: String) -> String? {
    guard isMade(key), let colon = key.lastIndex(of: ":") else { return nil }
    return String(key[..<colon])
  }

  static func entry(_ change: RecordedChange, key: String) -> OutboxEntry {
    var writer = JSONWriter(capacity: 128)
    writer.beginObject()
    describe(change, into: &writer)
    writer.endObject()
    let text = String(decoding: writer.bytes, as: UTF8.self)
    return OutboxEntry(
      metric: SharedLedger.outboxPrefix + text, delta: change.delta, key: key, at: change.at.milliseconds)
  }

  static func change(_ entry: OutboxEntry) -> RecordedChange {
    let text = String(entry.metric.dropFirst(SharedLedger.outboxPrefix.count))
    // Usagectx wrote it; a damaged one counts as the bare change.
    let data = (try? JSONData(parsing: text)) ?? .null  // harmless: our own text
    var detail: ChangeDetail?
    if let fields = data["fields"]?.array {
      detail = ChangeDetail(
        fields: fields.compactMap(\.int), cost: data["cost"]?.number ?? 0, priced: data["priced"]?.bool ?? true,
        events: data["events"]?.int ?? 1)
    }
    var labels: [String: String] = [:]
    for (name, value) in data["labels"]?.objectMembers ?? [] {
      if let value = value.string { labels[name] = value }
    }
    return RecordedChange(
      metric: data["metric"]?.string ?? text, delta: entry.delta, at: Timestamp(milliseconds: entry.at),
      key: entry.key, label: data["label"]?.string, detail: detail,
      kind: ChangeKind(rawValue: data["kind"]?.int ?? 0) ?? .change, labels: labels)
  }

  /// Writes the change's facts; for PostgreSQL (`forDatabase`), its labels without NUL characters, which `jsonb`
  /// cannot hold (each becomes U+FFFD), so that a label never makes the database refuse a burst.
  private static func describe(_ change: RecordedChange, forDatabase: Bool = false, into writer: inout JSONWriter) {
    writer.key("metric"); writer.string(text: change.metric)
    if let label = change.label { writer.key("label"); writer.string(text: forDatabase ? storable(label) : label) }
    if !change.labels.isEmpty {
      writer.key("labels")
      writer.beginObject()
      for name in change.labels.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
        let value = change.labels[name] ?? ""
        writer.key(text: forDatabase ? storable(name) : name)
        writer.string(text: forDatabase ? storable(value) : value)
      }
      writer.endObject()
    }
    writer.key("kind"); writer.int(change.kind.rawValue)
    if let detail = change.detail {
      writer.key("fields")
      writer.beginArray()
      for field in detail.fields { writer.int(field) }
      writer.endArray()
      writer.key("cost"); writer.double(detail.cost.isFinite ? detail.cost : 0)
      writer.key("priced"); writer.bool(detail.priced)
      writer.key("events"); writer.int(detail.events)
    }
  }

  /// The changes for `usagectx.apply`: the replayed ones first (applied once per key), then the burst's.
  static func json(replayed: [RecordedChange], burst: [RecordedChange]) -> String {
    var writer = JSONWriter(capacity: 256 + 128 * (replayed.count + burst.count))
    writer.beginArray()
    for change in replayed { write(change, replayed: true, into: &writer) }
    for change in burst { write(change, replayed: false, into: &writer) }
    writer.endArray()
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  private static func write(_ change: RecordedChange, replayed: Bool, into writer: inout JSONWriter) {
    writer.beginObject()
    describe(change, forDatabase: true, into: &writer)
    writer.key("delta"); writer.int(change.delta)
    writer.key("at"); writer.int(change.at.milliseconds)
    if let key = change.key { writer.key("key"); writer.string(text: key) }
    if replayed {
      writer.key("replayed"); writer.bool(true)
      if let key = change.key, let burst = burst(of: key) { writer.key("burst"); writer.string(text: burst) }
    }
    writer.endObject()
  }

  static func json(answers: [KeptAnswer]) -> String {
    var writer = JSONWriter(capacity: 64 + answers.reduce(0) { $0 + $1.answer.count + 64 })
    writer.beginArray()
    for answer in answers {
      writer.beginObject()
      writer.key("key"); writer.string(text: answer.key)
      writer.key("fingerprint"); writer.string(text: answer.fingerprint)
      writer.key("answer"); writer.string(text: String(decoding: answer.answer, as: UTF8.self))
      writer.key("at"); writer.int(answer.at)
      writer.endObject()
    }
    writer.endArray()
    return String(decoding: writer.bytes, as: UTF8.self)
  }

  /// `text` as PostgreSQL can store it in `jsonb` and `text`: NUL characters replaced by U+FFFD.
  static func storable(_ text: String) -> String {
    guard text.utf8.contains(0) else { return text }
    return String(String.UnicodeScalarView(text.unicodeScalars.map { $0 == "\0" ? "\u{FFFD}" : $0 }))
  }

  /// The positions `usagectx.apply` skipped (a JSON array of integers).
  static func skipped(_ text: String?) -> Set<Int> {
    // No answer means nothing was skipped.
    let data = text.flatMap { try? JSONData(parsing: $0) }  // harmless: no answer, nothing was skipped
    guard let array = data?.array else { return [] }
    return Set(array.compactMap { $0.int.map(Int.init) })
  }
}
