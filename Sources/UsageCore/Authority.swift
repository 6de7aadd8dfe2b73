/// Where one metric's authoritative value lives: a directory scan, a program, the local store, and later a shared
/// database. Every source of truth is reached through this one interface, so adding a kind of source adds a type,
/// not a rewrite.
public protocol Authority: Sendable {
  /// A short description for logs and error messages ("directory scan", "exec plugin billing").
  var name: String { get }

  /// Reads the metric's authoritative value. May block up to the source's own timeout; never call it while
  /// holding the usage context's lock. The value may be negative only for sources that record signed changes (the
  /// local ledger after decrements past zero); what is displayed is clamped, never the value.
  func read() throws(AuthorityError) -> Int64

  /// Passes a local change on to the authority (write-through). Must not block: sources that talk to another
  /// process queue the change and return ``ReportReceipt/pending``; its fate is told later, once, through the
  /// acknowledgement observer of whoever created the source (``ReportOutcome``). Sources that hold the change when
  /// this returns (the local ledger), and sources that are only read and see the change for themselves (a directory
  /// scan), return ``ReportReceipt/recorded``.
  func report(_ change: ReportedChange) -> ReportReceipt

  /// Whether the source lives in another process or machine, so that local changes wait in a durable outbox until
  /// it acknowledges them. Default `false`.
  var isRemote: Bool { get }

  /// For a source whose committed state can be read inside the transaction that decides a change (the ledger): the
  /// metric's committed total now, against which limits and the 64-bit range are checked. `nil` (the default) for
  /// sources only read from time to time: their changes are decided against the last reading plus the changes it
  /// does not include yet.
  func committed(at time: Timestamp) -> CommittedTotal?

  /// Changes the source holds but has not confirmed yet on its own (a shared ledger's changes made offline, waiting
  /// to be delivered), counted in `sync.unconfirmed` besides those in flight. Default 0.
  var unconfirmed: Int64 { get }
}

extension Authority {
  public var isRemote: Bool { false }

  public func committed(at time: Timestamp) -> CommittedTotal? { nil }

  public var unconfirmed: Int64 { 0 }

  /// A source that is only read: the change is already where the source looks (the file was written).
  public func report(_ change: ReportedChange) -> ReportReceipt { .recorded }
}

/// One local change passed on to a metric's authority.
public struct ReportedChange: Sendable, Equatable {
  /// The metric's sequence number of the change: increasing by one with each change of the metric in a session.
  public var seq: UInt64
  /// The change, signed (negative for decrements and resets).
  public var delta: Int64
  /// The client's idempotency key, when it gave one.
  public var key: String?
  /// The breakdown entry the change counted towards (a model), when the metric has a breakdown.
  public var label: String?
  /// The change's fields and cost, for metrics that have them (kept by the ledger so they survive a restart).
  public var detail: ChangeDetail?
  /// A change of usage, or (part of) the reset of the metric.
  public var kind: ChangeKind
  /// All the labels the client gave with the change (`model`, `provider`, `conversation`, …), kept in the change log
  /// and sent to authorities that keep them.
  public var labels: [String: String]
  /// The names of ``detail``'s fields, in the same order (the metric's descriptor's fields).
  public var fieldNames: [String]

  public init(
    seq: UInt64, delta: Int64, key: String? = nil, label: String? = nil, detail: ChangeDetail? = nil,
    kind: ChangeKind = .change, labels: [String: String] = [:], fieldNames: [String] = []
  ) {
    self.labels = labels
    self.fieldNames = fieldNames
    self.seq = seq
    self.delta = delta
    self.key = key
    self.label = label
    self.detail = detail
    self.kind = kind
    self.labels = labels
  }
}

/// What a change adds besides its amount: its field values (signed, in the descriptor's order), its cost, whether
/// it could be priced, and how many events of its breakdown entry it counts (1 for an increment; minus the entry's
/// count for the reset of an entry).
public struct ChangeDetail: Sendable, Equatable {
  public var fields: [Int64]
  public var cost: Double
  public var priced: Bool
  public var events: Int64

  public init(fields: [Int64] = [], cost: Double = 0, priced: Bool = true, events: Int64 = 1) {
    self.fields = fields
    self.cost = cost
    self.priced = priced
    self.events = events
  }
}

/// Whether an authority holds a reported change when ``Authority/report(_:)`` returns.
public enum ReportReceipt: Sendable, Equatable {
  /// The authority holds the change: any read that starts from now on includes it.
  case recorded
  /// The change is on its way; a ``ReportOutcome`` follows.
  case pending
}

/// What became of a change reported with ``ReportReceipt/pending``.
public enum ReportOutcome: Sendable, Equatable {
  /// The authority acknowledged the change.
  case accepted
  /// The authority answered with a permanent error: it did not take the change and never will.
  case refused(String)
  /// The authority answered with a transient error: it did not take the change now; send it again later, not before
  /// `afterMilliseconds` when it said so.
  case retry(String, afterMilliseconds: Int64?)
  /// The change will never be answered (the source went down with it in flight, or too many were waiting).
  case lost(String)
}

/// Why an authority could not be read.
public struct AuthorityError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  /// When the source asked not to be asked again before some time (milliseconds), as a `Retry-After`.
  public var retryAfterMilliseconds: Int64?

  public init(_ message: String, retryAfterMilliseconds: Int64? = nil) {
    self.message = message
    self.retryAfterMilliseconds = retryAfterMilliseconds
  }

  public var description: String { message }
}
