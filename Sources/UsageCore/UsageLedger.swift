import Synchronization

/// The local record of usage: the authority of every metric that no other source claims (requests and tokens by
/// default). Changes are recorded as they are applied; a metric's authoritative value is its total over the
/// current period. This one lives in memory; the durable ledger takes its place behind the same interface.
public protocol UsageLedger: Sendable {
  /// Records a change of `delta` to `metric` at `time`, with the client's idempotency `key` and the breakdown entry
  /// (`label`, e.g. a model) it counted towards, when known.
  func record(metric: String, delta: Int64, at time: Timestamp, key: String?, label: String?)
  /// The sum of the changes to `metric` recorded from `start` (inclusive; `nil` for all) until now.
  func total(metric: String, since start: Timestamp?) -> Int64
}

extension UsageLedger {
  /// Records a change without a key or a label.
  public func record(metric: String, delta: Int64, at time: Timestamp) {
    record(metric: metric, delta: delta, at: time, key: nil, label: nil)
  }
}

/// A ledger in memory that keeps one total per metric per UTC day, so its size does not grow with the number of
/// changes, and any daily or monthly period's total can be derived from it.
public final class MemoryLedger: UsageLedger {
  private let days = Mutex<[String: [Int64: Int64]]>([:])

  public init() {}

  public func record(metric: String, delta: Int64, at time: Timestamp, key: String?, label: String?) {
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
    ledger.record(metric: metric, delta: change.delta, at: clock.now(), key: change.key, label: change.label)
    return .recorded
  }
}
