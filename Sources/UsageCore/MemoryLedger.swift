import Synchronization

/// A ledger in memory (`--no-state`): one total per metric per UTC day and one for all time, so its size does not
/// grow with the number of changes and any daily or monthly period's total can be derived from it. Its transactions
/// cannot fail: a change is committed when it is recorded.
public final class MemoryLedger: UsageLedger {
  private struct State {
    var totals: [String: RunningTotals] = [:]
    var answers = KeptAnswers()
  }

  private let state = Mutex(State())

  public init() {}

  public func record(_ change: RecordedChange) {
    guard change.delta != 0 else { return }
    let day = RunningTotals.day(change.at)
    state.withLock { state in
      state.totals[change.metric, default: RunningTotals()].add(change.delta, on: day)
    }
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    state.withLock { $0.totals[metric]?.total(fromDay: start.map(RunningTotals.day)) ?? 0 }
  }

  public func committed(metric: String, since start: Timestamp?, at time: Timestamp) -> CommittedTotal {
    state.withLock { state in
      (state.totals[metric] ?? RunningTotals()).committed(
        fromDay: start.map(RunningTotals.day), today: RunningTotals.day(time))
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
