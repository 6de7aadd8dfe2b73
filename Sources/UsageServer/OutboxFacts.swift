import JSON
import UsageCore

/// What an outbox entry keeps of a change besides its amount and key — its labels, its fields by name and its
/// cost — as the JSON text of the outbox's `facts` column, so that a change sent again after a restart tells its
/// authority the same as the first time.
enum OutboxFacts {
  /// The facts of `change` as JSON text, or `nil` when it has none.
  static func encode(_ change: ReportedChange) -> String? {
    var members: [(String, JSONData)] = []
    if !change.labels.isEmpty {
      members.append(("labels", .object(change.labels.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
    }
    if let label = change.label { members.append(("label", .string(label))) }
    if let detail = change.detail {
      let fields = zip(change.fieldNames, detail.fields).map { ($0, JSONData.int($1)) }
      if !fields.isEmpty { members.append(("fields", .object(fields))) }
      members.append(("cost", .double(detail.cost)))
      if !detail.priced { members.append(("priced", .bool(false))) }
      members.append(("events", .int(detail.events)))
    }
    if change.kind == .reset { members.append(("reset", .bool(true))) }
    return members.isEmpty ? nil : JSONData.object(members).jsonText
  }

  /// The change an outbox entry holds: its amount and key, with the facts read back from `facts` (none when they
  /// cannot be read).
  static func change(seq: UInt64, delta: Int64, key: String, facts: String?) -> ReportedChange {
    var change = ReportedChange(seq: seq, delta: delta, key: key)
    // Facts written by this code; without them the amount still goes.
    let data = facts.flatMap { try? JSONData(parsing: $0, maxDepth: 8) }  // harmless: the amount still goes
    guard let data else { return change }
    if let labels = data["labels"]?.objectMembers {
      let pairs = labels.compactMap { key, value in value.string.map { (key, $0) } }
      change.labels = Dictionary(pairs) { first, _ in first }
    }
    change.label = data["label"]?.string
    if let cost = data["cost"]?.number {
      let fields = data["fields"]?.objectMembers ?? []
      change.fieldNames = fields.map(\.0)
      change.detail = ChangeDetail(
        fields: fields.map { $0.1.int ?? 0 }, cost: cost, priced: data["priced"]?.bool ?? true,
        events: data["events"]?.int ?? 1)
    }
    if data["reset"]?.bool == true { change.kind = .reset }
    return change
  }
}
