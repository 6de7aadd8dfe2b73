public import UsageCore

/// A local change to a metric whose authority is in another process, kept until that authority acknowledges it.
public struct OutboxEntry: Sendable, Equatable {
  /// The entry's id once written (0 before).
  public var id: Int64
  public var metric: String
  public var delta: Int64
  /// The idempotency key the authority sees (the client's, or one made for the change), so a replay is applied
  /// once.
  public var key: String
  /// When the change was made, in milliseconds since the epoch.
  public var at: Int64
  /// The change's sequence number in this session (not written: a replay numbers it again).
  public var seq: UInt64
  /// What the authority is told besides the amount (labels, fields, cost), as the sender encoded it; `nil` for none.
  public var facts: String?

  public init(
    id: Int64 = 0, metric: String, delta: Int64, key: String, at: Int64, seq: UInt64 = 0, facts: String? = nil
  ) {
    self.facts = facts
    self.id = id
    self.metric = metric
    self.delta = delta
    self.key = key
    self.at = at
    self.seq = seq
  }
}

/// What one commit writes: changes, answers kept under idempotency keys, new outbox entries, and the ids of outbox
/// entries their authority acknowledged.
public struct LedgerBatch: Sendable {
  public var changes: [LedgerChange] = []
  public var answers: [KeptAnswer] = []
  public var outbox: [OutboxEntry] = []
  public var delivered: [Int64] = []
  /// Resets of single breakdown entries: (metric, label, first day of the period) — see ``LedgerStore/baselines``.
  public var baselines: [(metric: String, label: String, sinceDay: Int64)] = []
  /// The last accepted readings of metrics held by other sources.
  public var readings: [KeptReading] = []

  public init(
    changes: [LedgerChange] = [], answers: [KeptAnswer] = [], outbox: [OutboxEntry] = [], delivered: [Int64] = []
  ) {
    self.changes = changes
    self.answers = answers
    self.outbox = outbox
    self.delivered = delivered
  }

  /// Empties the batch, keeping the memory of its lists for the next one.
  public mutating func removeAll() {
    changes.removeAll(keepingCapacity: true)
    answers.removeAll(keepingCapacity: true)
    outbox.removeAll(keepingCapacity: true)
    delivered.removeAll(keepingCapacity: true)
    baselines.removeAll(keepingCapacity: true)
    readings.removeAll(keepingCapacity: true)
  }

  public var isEmpty: Bool {
    changes.isEmpty && answers.isEmpty && outbox.isEmpty && delivered.isEmpty && baselines.isEmpty && readings.isEmpty
  }
}

/// The last reading of a metric's authority that the session accepted, kept so that a restart while that authority
/// is unreachable starts from it rather than from zero.
public struct KeptReading: Sendable, Equatable {
  public var metric: String
  public var value: Int64
  /// When the read started, in milliseconds since the epoch.
  public var at: Int64

  public init(metric: String, value: Int64, at: Int64) {
    self.metric = metric
    self.value = value
    self.at = at
  }
}

/// Where a change without a key shares its row of the change log within one batch.
struct ChangeGroup: Hashable {
  var metric: String
  var day: Int64
  var label: String?
  /// The change's labels as written in the log (``ChangeLabels/encode(_:)``).
  var labels: String?
}

/// One running total: a metric's, on a UTC day (or over all time), for one label (`""` for none).
struct CounterKey: Hashable {
  var metric: String
  var day: Int64
  var label: String
}

/// What one batch adds to a running total.
struct CounterDelta {
  var amount: Int64 = 0
  var fields: [Int64] = []
  var cost: Double = 0
  var priced = true
  var events: Int64 = 0

  /// Adds another sum.
  mutating func add(_ other: CounterDelta) {
    amount &+= other.amount
    if fields.count < other.fields.count { fields += Array(repeating: 0, count: other.fields.count - fields.count) }
    for (position, value) in other.fields.enumerated() { fields[position] &+= value }
    cost += other.cost
    priced = priced && other.priced
    events &+= other.events
  }

  mutating func add(_ change: LedgerChange) {
    amount &+= change.delta
    guard let detail = change.detail else { return }
    if fields.count < detail.fields.count { fields += Array(repeating: 0, count: detail.fields.count - fields.count) }
    for (position, value) in detail.fields.enumerated() { fields[position] &+= value }
    cost += detail.cost
    priced = priced && detail.priced
    events &+= detail.events
  }
}

/// One change as the ledger records it (the core's ``RecordedChange``), made with its time in milliseconds.
public typealias LedgerChange = RecordedChange

extension RecordedChange {
  /// A change applied at `at` milliseconds since the Unix epoch (UTC).
  public init(
    metric: String, delta: Int64, at milliseconds: Int64, key: String? = nil, label: String? = nil,
    detail: ChangeDetail? = nil, kind: ChangeKind = .change
  ) {
    self.init(
      metric: metric, delta: delta, at: Timestamp(milliseconds: milliseconds), key: key, label: label, detail: detail,
      kind: kind)
  }

  /// The UTC day it was applied on (days since the epoch).
  var day: Int64 { at.milliseconds.floorDivided(by: LedgerStore.millisecondsPerDay) }
}
