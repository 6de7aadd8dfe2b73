import Synchronization

/// The local record of usage: the authority of every metric that no other source claims (requests and tokens by
/// default). Changes are recorded as they are applied; a metric's authoritative value is its total over the
/// current period. This one lives in memory; the durable ledger takes its place behind the same interface.
public protocol UsageLedger: Sendable {
  /// Records a change of `delta` to `metric` at `time`, with the client's idempotency `key`, the breakdown entry
  /// (`label`, e.g. a model) it counted towards and its fields and cost (`detail`), when known.
  func record(metric: String, delta: Int64, at time: Timestamp, key: String?, label: String?, detail: ChangeDetail?)
  /// The changes to `metric` from `start` summed per breakdown label (`nil` for changes without one), for a
  /// restarted session to show its breakdown, field totals and cost again. Ledgers that keep no detail return none.
  func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal]
  /// The sum of the changes to `metric` recorded from `start` (inclusive; `nil` for all) until now.
  func total(metric: String, since start: Timestamp?) -> Int64
}

extension UsageLedger {
  /// Records a change without a key, a label or detail.
  public func record(metric: String, delta: Int64, at time: Timestamp) {
    record(metric: metric, delta: delta, at: time, key: nil, label: nil, detail: nil)
  }

  public func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal] { [] }
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

/// A ledger in memory that keeps one total per metric per UTC day, so its size does not grow with the number of
/// changes, and any daily or monthly period's total can be derived from it.
public final class MemoryLedger: UsageLedger {
  private let days = Mutex<[String: [Int64: Int64]]>([:])

  public init() {}

  public func record(
    metric: String, delta: Int64, at time: Timestamp, key: String?, label: String?, detail: ChangeDetail?
  ) {
    guard delta != 0 else { return }
    let day = time.milliseconds.floorDivided(by: 86_400_000)
    days.withLock { days in
      let current = days[metric, default: [:]][day, default: 0]
      days[metric, default: [:]][day] = current.saturatingAdd(delta)
    }
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    let first = start.map { $0.milliseconds.floorDivided(by: 86_400_000) } ?? .min
    return days.withLock { days in
      (days[metric] ?? [:]).reduce(into: Int64(0)) { sum, entry in
        if entry.key >= first { sum = sum.saturatingAdd(entry.value) }
      }
    }
  }
}

/// The ledger as a metric's authority: the metric's total over its current period.
public struct LedgerAuthority: Authority {
  let ledger: any UsageLedger
  let metric: String
  let period: Period
  let clock: any WallClock

  public init(ledger: any UsageLedger, metric: String, period: Period, clock: any WallClock) {
    self.ledger = ledger
    self.metric = metric
    self.period = period
    self.clock = clock
  }

  public var name: String { "local ledger" }

  /// The total over the current period; negative when more was taken than recorded (the display clamps it).
  public func read() throws(AuthorityError) -> Int64 {
    ledger.total(metric: metric, since: period.start(containing: clock.now()))
  }

  public func report(_ change: ReportedChange) -> ReportReceipt {
    ledger.record(
      metric: metric, delta: change.delta, at: clock.now(), key: change.key, label: change.label, detail: change.detail)
    return .recorded
  }
}
