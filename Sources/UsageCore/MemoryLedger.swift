import Synchronization

/// A ledger in memory (`--no-state`): one total per metric per UTC day and one for all time, so its size does not
/// grow with the number of changes and any daily or monthly period's total can be derived from it. Its transactions
/// cannot fail: a change is committed when it is recorded.
public final class MemoryLedger: UsageLedger {
  private struct State {
    var days: [String: [Int64: Int64]] = [:]
    var allTime: [String: Int64] = [:]
    var answers = KeptAnswers()
  }

  private let state = Mutex(State())

  public init() {}

  public func record(_ change: RecordedChange) {
    guard change.delta != 0 else { return }
    let day = change.at.milliseconds.floorDivided(by: 86_400_000)
    state.withLock { state in
      state.days[change.metric, default: [:]][day, default: 0].saturatingAddInPlace(change.delta)
      state.allTime[change.metric, default: 0].saturatingAddInPlace(change.delta)
    }
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    state.withLock { Self.total(metric: metric, since: start, in: $0) }
  }

  public func committed(metric: String, since start: Timestamp?, at time: Timestamp) -> CommittedTotal {
    state.withLock { state in
      let total = Self.total(metric: metric, since: start, in: state)
      let today = state.days[metric]?[time.milliseconds.floorDivided(by: 86_400_000)] ?? 0
      let allTime = state.allTime[metric] ?? 0
      return CommittedTotal(total: total, lowest: min(total, today, allTime), highest: max(total, today, allTime))
    }
  }

  private static func total(metric: String, since start: Timestamp?, in state: State) -> Int64 {
    guard let start else { return state.allTime[metric] ?? 0 }
    let first = start.milliseconds.floorDivided(by: 86_400_000)
    return (state.days[metric] ?? [:]).reduce(into: Int64(0)) { sum, entry in
      if entry.key >= first { sum = sum.saturatingAdd(entry.value) }
    }
  }

  public func breakdown(metric: String, since start: Timestamp?) -> [BreakdownTotal] { [] }
  public func baselines(metric: String, since start: Timestamp?) -> [BreakdownTotal] { [] }

  public func begin(touching metrics: Set<String>) throws(CommitError) {}
  public func commit() throws(CommitError) {}

  public func keptAnswer(_ key: String) throws(CommitError) -> KeptAnswer? {
    let now = SystemWallClock().now().milliseconds
    return state.withLock { $0.answers.answer(for: key, now: now) }
  }

  public func keep(_ answer: KeptAnswer) {
    state.withLock { $0.answers.keep(answer) }
  }

  public func setBaseline(metric: String, label: String, since start: Timestamp?) {}
  public func keepReading(metric: String, value: Int64, at time: Timestamp) {}
  public func lastReadings() -> [String: (value: Int64, at: Timestamp)] { [:] }
}

extension Int64 {
  /// Adds `other`, staying at the nearest bound instead of overflowing.
  mutating func saturatingAddInPlace(_ other: Int64) {
    self = saturatingAdd(other)
  }
}
