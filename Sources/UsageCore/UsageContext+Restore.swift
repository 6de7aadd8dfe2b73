import Synchronization

/// Going back: to a checkpoint when a transaction's changes could not be committed, and to what the ledger kept when
/// a session starts again.
extension UsageContext {
  /// What the context holds at one moment, to go back to when the changes made since cannot be committed.
  public struct Checkpoint {
    fileprivate let state: State
  }

  /// Everything the context holds now (cheap: the numbers are copied on write).
  public func checkpoint() -> Checkpoint {
    state.withLock { Checkpoint(state: $0) }
  }

  /// Goes back to `checkpoint`: the changes made since were not committed, so they never happened. Only the
  /// session's owner changes the context, so nothing else is lost.
  public func restore(_ checkpoint: Checkpoint) {
    state.withLock { $0 = checkpoint.state }
  }

  /// Shows again the fields, cost and breakdown the ledger kept for the current period of every metric whose
  /// authority is the ledger, or a remote source whose changes the ledger keeps too (a restarted session); each breakdown entry's facts come from the metric's hook.
  /// `metrics` limits it to those (by name); `nil` for all. Returns the indices of the metrics whose detail was set.
  @discardableResult
  public func restoreDetail(_ metrics: Set<String>? = nil) -> [Int] {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      var restored: [Int] = []
      for index in state.records.indices where state.records[index].keepsDetail {
        if let metrics, !metrics.contains(state.records[index].descriptor.name) { continue }
        guard let authority = state.records[index].authority, authority is LedgerAuthority || authority.isRemote else {
          continue
        }
        let name = state.records[index].descriptor.name
        let totals = ledger.breakdown(metric: name, since: state.records[index].periodStart)
        guard !totals.isEmpty else { continue }
        let baselines = ledger.baselines(metric: name, since: state.records[index].periodStart)
        let record = state.records[index]
        state.records[index].restore(totals, baselines: baselines) { label in
          guard let field = record.descriptor.breakdownLabel, let hook = record.hook else { return [:] }
          let zero = Array(repeating: Int64(0), count: record.descriptor.fields.count)
          let facts = try? hook.measure(MeasureInput(fields: zero, labels: [field: label]))  // harmless: display only
          return facts?.attributes ?? [:]
        }
        state.version += 1
        state.records[index].version = state.version
        restored.append(index)
      }
      return restored
    }
  }
}
