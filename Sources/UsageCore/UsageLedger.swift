/// The local record of usage, and the transaction every change goes through: the authority of every metric that
/// no other source claims (requests and tokens by default), and where idempotency keys and their answers are kept.
///
/// A batch of changes (a burst) is one transaction: ``begin(touching:)`` opens it against the ledger's current
/// committed state (another process's commits included), the changes are decided in order against
/// ``committed(metric:since:at:)`` and recorded with ``record(_:)``, answers under idempotency keys are looked up with
/// ``keptAnswer(_:)`` and kept with ``keep(_:)``, and ``commit()`` makes all of it durable at once, or none of it.
/// Changes recorded outside ``begin(touching:)`` wait for the next ``commit()``. This one lives in memory (its commit
/// cannot fail); the durable ledger and, later, a shared database implement the same interface.
public protocol UsageLedger: Sendable {
  /// Records a change (counted at once in the totals; durable with the next commit).
  func record(_ change: RecordedChange)
  /// The changes to `metric` from `start` summed per breakdown label (`nil` for changes without one), for a
  /// restarted session to show its breakdown, field totals and cost again. Ledgers that keep no detail return none.
  func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal]
  /// What each breakdown entry of `metric` reset since `start` had used when it was reset (see
  /// ``setBaseline(metric:label:since:)``): its entry shows the rest.
  func baselines(metric: String, since start: Timestamp?) -> [BreakdownTotal]
  /// The sum of the changes to `metric` recorded from `start` (inclusive, by UTC day; `nil` for all) until now.
  func total(metric: String, since start: Timestamp?) -> Int64
  /// The metric's committed total over the period from `start` as of now (another process's commits included), and
  /// how far a change made at `time` may move it without a running total passing the 64-bit range.
  func committed(metric: String, since start: Timestamp?, at time: Timestamp) -> CommittedTotal
  /// Opens the transaction of a batch of changes to `metrics`; what another process committed to them meanwhile is
  /// read first. Throws when the ledger cannot be written now (locked by another process past the timeout, full).
  func begin(touching metrics: Set<String>) throws(CommitError)
  /// ``begin(touching:)`` for a burst whose changes carry these idempotency keys: a ledger in another place
  /// (PostgreSQL) looks them up in the same round trip. By default the keys are looked up one by one.
  func begin(touching metrics: Set<String>, keys: [String]) throws(CommitError)
  /// Writes everything recorded since the last commit in one transaction (the one ``begin(touching:)`` opened, or
  /// a new one). On failure nothing of it is kept: the totals are taken back and the error says why.
  func commit() throws(CommitError)
  /// The answer kept under an idempotency key (committed by any process, or recorded in this transaction).
  func keptAnswer(_ key: String) throws(CommitError) -> KeptAnswer?
  /// Keeps the answer given under an idempotency key, in the same transaction as its change.
  func keep(_ answer: KeptAnswer)
  /// Sets the baseline of one breakdown entry (the reset of a model's counter): from now on the entry is shown
  /// from zero, while the period's total and the history keep what was used.
  func setBaseline(metric: String, label: String, since start: Timestamp?)
  /// Keeps the last accepted reading of a metric held by another source (a directory, a program), written with the
  /// next commit, so a restart while that source is unreachable starts from it.
  func keepReading(metric: String, value: Int64, at time: Timestamp)
  /// The readings kept by ``keepReading(metric:value:at:)``, by metric.
  func lastReadings() -> [String: (value: Int64, at: Timestamp)]
  /// The metric's total for a reading of the authority (``total(metric:since:)`` by default); a ledger in another
  /// place throws while it cannot be reached, so the metric shows the error.
  func read(metric: String, since start: Timestamp?) throws(AuthorityError) -> Int64
  /// What holds the metrics as an authority, for logs and errors ("local ledger" by default).
  var authorityName: String { get }
  /// The authority an answer to a change names (`"postgres"`, or `"offline"` while it was decided without it); `nil`
  /// (the default) leaves it out.
  var answeringAuthority: String? { get }
  /// The metric's changes this ledger holds that its authority has not confirmed (made offline, not delivered yet);
  /// 0 by default.
  func unconfirmed(metric: String) -> Int64
}

extension UsageLedger {
  public func read(metric: String, since start: Timestamp?) throws(AuthorityError) -> Int64 {
    total(metric: metric, since: start)
  }

  public var authorityName: String { "local ledger" }

  public var answeringAuthority: String? { nil }

  public func unconfirmed(metric: String) -> Int64 { 0 }

  public func begin(touching metrics: Set<String>, keys: [String]) throws(CommitError) {
    try begin(touching: metrics)
  }

  /// Records a change without a key, a label or detail.
  public func record(metric: String, delta: Int64, at time: Timestamp) {
    record(RecordedChange(metric: metric, delta: delta, at: time))
  }
}

/// One change as a ledger records it.
public struct RecordedChange: Sendable, Equatable {
  public var metric: String
  /// The change, signed.
  public var delta: Int64
  /// When it was applied.
  public var at: Timestamp
  /// The client's idempotency key, when it gave one.
  public var key: String?
  /// The breakdown entry (a model) it counted towards, when the metric has a breakdown.
  public var label: String?
  /// Its fields, cost and events, for metrics that have them.
  public var detail: ChangeDetail?
  /// A change, or the reset of the metric (recorded as such, not as a negative change of usage).
  public var kind: ChangeKind
  /// All the labels the client gave with the change (`model`, `provider`, `conversation`, …): history and export
  /// group and filter by them.
  public var labels: [String: String]

  public init(
    metric: String, delta: Int64, at: Timestamp, key: String? = nil, label: String? = nil,
    detail: ChangeDetail? = nil, kind: ChangeKind = .change, labels: [String: String] = [:]
  ) {
    self.metric = metric
    self.delta = delta
    self.at = at
    self.key = key
    self.label = label
    self.detail = detail
    self.kind = kind
    self.labels = labels
  }
}

/// What a recorded change is.
public enum ChangeKind: Int64, Sendable, Equatable {
  /// Usage (or a refund, when negative).
  case change = 0
  /// A reset of the metric by an administrator: it takes the count back to zero, and history shows it apart from
  /// usage.
  case reset = 1
}

/// A metric's committed total, and the range its running totals allow a change to move in.
public struct CommittedTotal: Sendable, Equatable {
  /// The total over the period asked for.
  public var total: Int64
  /// The smallest and largest of the running totals a change would move (the period's, the day's, all time's).
  public var lowest: Int64
  public var highest: Int64

  public init(total: Int64, lowest: Int64? = nil, highest: Int64? = nil) {
    self.total = total
    self.lowest = lowest ?? total
    self.highest = highest ?? total
  }

  /// Whether adding `delta` keeps every running total within 64 bits.
  public func admits(_ delta: Int64) -> Bool {
    delta >= 0 ? !highest.addingReportingOverflow(delta).overflow : !lowest.addingReportingOverflow(delta).overflow
  }
}

/// Why a ledger's transaction could not be opened or committed.
public struct CommitError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// An answer given to a change that carried an idempotency key, kept so that a retry gets it again.
public struct KeptAnswer: Sendable, Equatable {
  public var key: String
  /// What identifies the request's parameters (a retry with other parameters is refused).
  public var fingerprint: String
  /// The answer's `result`, as written.
  public var answer: [UInt8]
  /// When it was given, in milliseconds since the epoch.
  public var at: Int64

  public init(key: String, fingerprint: String, answer: [UInt8], at: Int64) {
    self.key = key
    self.fingerprint = fingerprint
    self.answer = answer
    self.at = at
  }

  /// How long answers are kept: 24 hours.
  public static let retention: Int64 = 24 * 3600 * 1000
}

/// One breakdown label's changes summed (see ``UsageLedger/breakdown(metric:since:)``).
public struct BreakdownTotal: Sendable, Equatable {
  /// The label (a model); `nil` for changes without one.
  public var label: String?
  public var amount: Int64
  /// Field totals in the descriptor's order.
  public var fields: [Int64]
  public var cost: Double
  /// Whether every change could be priced.
  public var priced: Bool
  /// How many increments were counted.
  public var events: Int64

  public init(label: String?, amount: Int64, fields: [Int64], cost: Double, priced: Bool, events: Int64) {
    self.label = label
    self.amount = amount
    self.fields = fields
    self.cost = cost
    self.priced = priced
    self.events = events
  }
}
