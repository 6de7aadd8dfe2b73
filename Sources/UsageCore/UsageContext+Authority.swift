import Synchronization

/// What the context hears from each metric's authority: readings judged by the reconciliation, settlements of
/// changes passed on, readings kept across restarts, and the source's errors and sync state.
extension UsageContext {
  /// Starts a read of the metric's authority: the ticket tells ``acceptReading(_:value:)`` what the reading may
  /// be missing.
  public func beginRead(metric index: Int) -> ReadTicket {
    state.withLock { ReadTicket(metric: index, startedAt: $0.events) }
  }

  /// Judges a reading of `value` from the read started with `ticket`.
  ///
  /// A reading that started before a change was settled may miss that change: it is discarded (``ReadingResult/stale``)
  /// and nothing moves back. Otherwise the authority wins: the metric's value becomes the reading plus the local
  /// changes it has not acknowledged yet, a source error is cleared, and when the reading differs from what was
  /// expected (the previous reading plus the changes settled since) the ``Drift`` says by how much.
  public func acceptReading(_ ticket: ReadTicket, value: Int64) -> ReadingResult {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      let index = ticket.metric
      let verdict = state.records[index].reconciliation.accept(value, startedAt: ticket.startedAt)
      guard case .accepted(let expected, let delta) = verdict else { return .stale }
      // What a source in another place said last is kept, so a restart while it is away starts from it.
      if !(state.records[index].authority is LedgerAuthority) {
        ledger.keepReading(metric: state.records[index].descriptor.name, value: value, at: now)
      }
      let drift =
        delta == 0
        ? nil
        : Drift(metric: state.records[index].descriptor.name, expected: expected, authoritative: value, delta: delta)
      let used = max(0, state.records[index].reconciliation.value)
      guard state.records[index].used != used || state.records[index].error != nil else {
        return .accepted(
          MutationResult(state: state.records[index].state(tier: state.tier), crossing: nil), drift: drift)
      }
      state.records[index].used = used
      state.records[index].error = nil
      state.version += 1
      state.records[index].version = state.version
      let crossing = state.records[index].updateLevel(tier: state.tier)
      return .accepted(
        MutationResult(state: state.records[index].state(tier: state.tier), crossing: crossing), drift: drift)
    }
  }

  /// Starts the metrics held by sources in other places (a directory, a program) from the readings the ledger kept
  /// from an earlier session, so that while such a source cannot be read the session shows, limits and checks its
  /// last known number (plus the changes it has not confirmed) rather than zero. A reading of the source replaces
  /// it as usual. Returns the indices of the metrics that got one.
  @discardableResult
  public func restoreReadings() -> [Int] {
    let kept = ledger.lastReadings()
    guard !kept.isEmpty else { return [] }
    return state.withLock { state in
      var restored: [Int] = []
      for index in state.records.indices where !(state.records[index].authority is LedgerAuthority) {
        guard state.records[index].authority != nil, let reading = kept[state.records[index].descriptor.name] else {
          continue
        }
        state.events += 1
        state.records[index].reconciliation.sync(reading.value, event: state.events)
        state.records[index].used = max(0, state.records[index].reconciliation.value)
        state.version += 1
        state.records[index].version = state.version
        _ = state.records[index].updateLevel(tier: state.tier)
        restored.append(index)
      }
      return restored
    }
  }

  /// The change numbered `seq` of the metric was settled (its authority acknowledged it, refused it, or it was lost):
  /// readings that started earlier become stale, and the next one to be accepted includes it. Returns `false` when
  /// no such change was waiting. The number shown does not change.
  @discardableResult
  public func settle(metric index: Int, seq: UInt64) -> Bool {
    state.withLock { state in
      state.events += 1
      let event = state.events
      return state.records[index].reconciliation.settle(seq: seq, event: event)
    }
  }

  /// A change of a metric held in another place was acknowledged by its source: what is kept of that source's number
  /// becomes its last reading plus the changes it acknowledged since (what the next reading is expected to say), so
  /// a restart before that reading neither loses the change nor counts it twice. Written with the commit that takes
  /// the change out of the outbox.
  public func keepExpectedReading(metric index: Int) {
    let now = clock.now()
    state.withLock { state in
      let record = state.records[index]
      guard !(record.authority is LedgerAuthority), record.reconciliation.hasReading else { return }
      let expected = record.reconciliation.authoritative.saturatingAdd(record.reconciliation.settled)
      ledger.keepReading(metric: record.descriptor.name, value: expected, at: now)
    }
  }

  /// Counts a change made in an earlier session that its authority has not acknowledged yet (an entry of the
  /// outbox): it stays unsettled until its outcome arrives, like any change in flight. Returns its sequence number.
  public func restoreUnsettled(metric index: Int, delta: Int64) -> UInt64 {
    state.withLock { state in
      let seq = state.records[index].reconciliation.nextSeq()
      state.records[index].reconciliation.record(seq: seq, delta: delta, receipt: .pending, event: state.events)
      let used = max(0, state.records[index].reconciliation.value)
      if used != state.records[index].used {
        state.records[index].used = used
        state.version += 1
        state.records[index].version = state.version
        _ = state.records[index].updateLevel(tier: state.tier)
      }
      return seq
    }
  }

  /// Sets how the metric's synchronisation stands (shown in its state; not a change of the numbers, so the version
  /// stays).
  public func setSync(metric index: Int, _ status: SyncStatus) {
    state.withLock { $0.records[index].sync = status }
  }

  /// Records (or, with `nil`, clears) an error from a metric's source; the numbers stay as they are.
  public func setError(metric index: Int, _ message: String?) {
    state.withLock { state in
      guard state.records[index].error != message else { return }
      state.records[index].error = message
      state.version += 1
      state.records[index].version = state.version
    }
  }

  /// Clears the error state of the metrics at `indices` (all when `nil`).
  public func resetErrors(_ indices: [Int]? = nil) {
    for index in indices ?? Array(metricNames.indices) { setError(metric: index, nil) }
  }
}
