/// How one metric's optimistic local number converges on its authority's number (the house plan's model).
///
/// The metric's value is `authoritative + settled + Σ unsettled`, where
/// - `authoritative` is the last accepted reading from the authority;
/// - `unsettled` are local changes passed on to the authority whose fate is not known yet;
/// - `settled` is the sum of changes whose fate is known (the authority holds them, or said it will not) but that no
///   accepted reading includes yet.
///
/// Events are numbered by the owner (one counter for the whole context). Each settlement, and each restart of the
/// count (a new period, a reset), raises the metric's `barrier` to the event's number; a reading that started
/// before the barrier cannot prove it includes what was settled after it started, so it is discarded as stale.
/// A reading that is accepted includes every settled change, so they retire into `authoritative`; the unsettled
/// ones stay. Every change is therefore counted exactly once whatever the interleaving of changes, settlements and
/// readings. The value may be negative (more taken than counted); what is displayed is clamped at zero, the changes
/// never are.
struct Reconciliation {
  /// A change passed on to the authority and not settled yet.
  struct Change {
    var seq: UInt64
    var delta: Int64
    var settled = false
  }

  /// What became of a reading.
  enum Verdict: Equatable {
    /// The reading is the new authoritative value; `drift` is what it differs from the expected value by (0 when it
    /// agrees, or for the first reading, which has nothing to agree with).
    case accepted(expected: Int64, drift: Int64)
    /// The reading started before a later settlement: it may miss changes, so it is ignored.
    case stale
  }

  private(set) var authoritative: Int64 = 0
  private(set) var hasReading = false
  private(set) var settled: Int64 = 0
  /// The changes waiting, in increasing `seq` from ``unsettledStart``; a settled one keeps its place with
  /// `settled: true` until the ones before it are settled too, so settling is a binary search, not a scan and shift.
  private var waiting: [Change] = []
  private var unsettledStart = 0
  /// How many of ``waiting`` (from ``unsettledStart``) are not settled.
  private(set) var unsettledCount = 0
  private(set) var unsettledSum: Int64 = 0
  private(set) var barrier: UInt64 = 0
  private var lastSeq: UInt64 = 0

  /// The changes not settled yet, oldest first.
  var unsettled: [Change] { waiting[unsettledStart...].filter { !$0.settled } }

  /// The metric's value: the authority's number plus every change it does not include yet (unclamped).
  var value: Int64 { authoritative.saturatingAdd(settled).saturatingAdd(unsettledSum) }

  /// Gives the next change its sequence number.
  mutating func nextSeq() -> UInt64 {
    lastSeq += 1
    return lastSeq
  }

  /// Counts a change numbered `seq` (from ``nextSeq()``) that the authority received as `receipt` says; `event` is
  /// the owner's next event number (used when the authority holds the change already).
  mutating func record(seq: UInt64, delta: Int64, receipt: ReportReceipt, event: UInt64) {
    switch receipt {
    case .recorded:
      settled = settled.saturatingAdd(delta)
      barrier = event
    case .pending:
      if let last = waiting.last, last.seq >= seq {
        // Sequence numbers only grow; a smaller one would break the binary search (never expected).
        assertionFailure("change \(seq) recorded after \(last.seq)")
      }
      waiting.append(Change(seq: seq, delta: delta))
      unsettledCount += 1
      unsettledSum = unsettledSum.saturatingAdd(delta)
    }
  }

  /// Settles the change numbered `seq` (its outcome arrived). Returns `false` for a change not waiting (already
  /// settled, or forgotten when the count restarted).
  mutating func settle(seq: UInt64, event: UInt64) -> Bool {
    var low = unsettledStart
    var high = waiting.count
    while low < high {
      let middle = (low + high) / 2
      if waiting[middle].seq < seq { low = middle + 1 } else { high = middle }
    }
    guard low < waiting.count, waiting[low].seq == seq, !waiting[low].settled else { return false }
    waiting[low].settled = true
    let change = waiting[low]
    unsettledCount -= 1
    while unsettledStart < waiting.count && waiting[unsettledStart].settled { unsettledStart += 1 }
    if unsettledStart == waiting.count {
      waiting.removeAll(keepingCapacity: true)
      unsettledStart = 0
    } else if unsettledStart > 1024 && unsettledStart * 2 > waiting.count {
      waiting.removeFirst(unsettledStart)
      unsettledStart = 0
    }
    unsettledSum = unsettledSum.saturatingAdd(-change.delta)
    settled = settled.saturatingAdd(change.delta)
    barrier = event
    return true
  }

  /// Judges a reading of `reading` that started at event `startedAt`.
  mutating func accept(_ reading: Int64, startedAt: UInt64) -> Verdict {
    guard startedAt >= barrier else { return .stale }
    let expected = authoritative.saturatingAdd(settled)
    let drift = hasReading ? reading.saturatingAdd(-expected) : 0
    authoritative = reading
    settled = 0
    hasReading = true
    return .accepted(expected: expected, drift: drift)
  }

  /// The authority's committed total, read inside the transaction that decides the next change: it includes every
  /// change settled so far, and readings that started earlier are stale.
  mutating func sync(_ total: Int64, event: UInt64) {
    authoritative = total
    settled = 0
    hasReading = true
    barrier = event
  }

  /// The source may have changed (a new configuration): the next reading is taken as it is, without a drift.
  mutating func forgetReading() {
    hasReading = false
  }

  /// Starts counting again from zero (a new period): changes waiting to be settled belong to the period that ended,
  /// and readings that started before `event` are stale.
  mutating func restart(event: UInt64) {
    authoritative = 0
    settled = 0
    waiting.removeAll()
    unsettledStart = 0
    unsettledCount = 0
    unsettledSum = 0
    barrier = event
  }
}
