import Synchronization

/// The tier and the metrics' periods: limits that change with the tier, periods that roll over on time.
extension UsageContext {
  /// Changes the tier: limits change for every metric. Returns the crossings it caused.
  public func setTier(_ tier: Tier) -> [ThresholdCrossing] {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      guard state.tier != tier else { return [] }
      state.configuration.tier = tier
      state.tier = tier
      return Self.touchAll(&state)
    }
  }

  /// When the next periodic metric rolls over, if any does.
  public func nextRollover() -> Timestamp? {
    state.withLock { state in state.records.compactMap(\.nextReset).min() }
  }

  /// Rolls over every metric whose period has ended. Returns `true` when any did (subscribers should hear).
  @discardableResult
  public func rollOverDueMetrics() -> Bool {
    let now = clock.now()
    return state.withLock { Self.rollOver(&$0, now: now) }
  }

  @discardableResult
  static func rollOver(_ state: inout State, now: Timestamp) -> Bool {
    var any = false
    for index in state.records.indices where state.records[index].rollOverIfDue(now: now, event: state.events + 1) {
      state.events += 1
      state.version += 1
      state.records[index].version = state.version
      _ = state.records[index].updateLevel(tier: state.tier)
      any = true
    }
    return any
  }

  /// Every metric is touched (a new version) and its level judged again: after a tier or configuration change.
  static func touchAll(_ state: inout State) -> [ThresholdCrossing] {
    state.version += 1
    var crossings: [ThresholdCrossing] = []
    for index in state.records.indices {
      state.records[index].version = state.version
      if let crossing = state.records[index].updateLevel(tier: state.tier) { crossings.append(crossing) }
    }
    return crossings
  }
}
