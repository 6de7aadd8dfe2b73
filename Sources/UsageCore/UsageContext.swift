import Synchronization

/// The person's global usage: every metric's numbers, the tier, and a version that grows with each change.
///
/// The single owner of that state (a lock, so the hot path pays no task hop). Metrics come from plugins; what a
/// metric does comes only from its descriptor and hook. Calendar time comes from the injected ``WallClock``:
/// periodic metrics roll over when their period ends, checked on every access and by ``rollOverDueMetrics()``.
public final class UsageContext: Sendable {
  fileprivate struct State {
    var tier: Tier
    var version: UInt64 = 0
    /// Numbers the events that decide whether a reading is stale (settlements, restarts of a count).
    var events: UInt64 = 0
    var records: [MetricRecord]
    var configuration: UsageConfiguration
  }

  private let state: Mutex<State>
  private let plugins: [any MetricPlugin]
  private let clock: any WallClock
  private let ledger: any UsageLedger
  private let authorityOverrides: [String: any Authority]
  private let outbox: (@Sendable (String, any Authority) -> any Authority)?
  /// Metric names, in plugin order; fixed for the context's life.
  public let metricNames: [String]
  private let nameBytes: [[UInt8]]

  /// Builds the context from `plugins`, configured by `configuration`.
  /// - Throws: ``UsageError/invalidField(field:reason:)`` for a configuration a plugin refuses, an override of a
  ///   metric that does not exist, or two plugins declaring the same metric.
  ///
  /// Metrics whose plugin names no authority, and that `authorities` does not give one, get `ledger` as their
  /// authority: their truth is what was recorded locally.
  public init(
    plugins: [any MetricPlugin], configuration: UsageConfiguration = UsageConfiguration(),
    clock: any WallClock = SystemWallClock(), ledger: any UsageLedger = MemoryLedger(),
    authorities: [String: any Authority] = [:], outbox: (@Sendable (String, any Authority) -> any Authority)? = nil
  ) throws(UsageError) {
    self.plugins = plugins
    self.clock = clock
    self.ledger = ledger
    self.authorityOverrides = authorities
    self.outbox = outbox
    let definitions = try Self.definitions(
      plugins: plugins, configuration: configuration, ledger: ledger, authorities: authorities, clock: clock,
      outbox: outbox)
    let now = clock.now()
    let records = definitions.map { MetricRecord(definition: $0, now: now) }
    metricNames = records.map(\.descriptor.name)
    nameBytes = metricNames.map { Array($0.utf8) }
    var initial = State(tier: configuration.tier, records: records, configuration: configuration)
    for index in initial.records.indices { _ = initial.records[index].updateLevel(tier: initial.tier) }
    state = Mutex(initial)
  }

  private static func definitions(
    plugins: [any MetricPlugin], configuration: UsageConfiguration, ledger: any UsageLedger,
    authorities: [String: any Authority], clock: any WallClock,
    outbox: (@Sendable (String, any Authority) -> any Authority)?
  ) throws(UsageError) -> [MetricDefinition] {
    var result: [MetricDefinition] = []
    for plugin in plugins {
      let options = configuration.plugins[plugin.info.name] ?? .null
      for var definition in try plugin.metrics(options: options) {
        guard !result.contains(where: { $0.descriptor.name == definition.descriptor.name }) else {
          throw .invalidField(
            field: "plugins.\(plugin.info.name)",
            reason: "declares metric \(definition.descriptor.name), which another plugin already declares")
        }
        definition.descriptor = configuration.apply(to: definition.descriptor)
        let name = definition.descriptor.name
        if let source = authorities[name] {
          definition.authority = source
        } else if definition.authority == nil {
          definition.authority = LedgerAuthority(
            ledger: ledger, metric: name, period: definition.descriptor.period, clock: clock)
        }
        // Changes to a source in another process wait in the outbox until it acknowledges them.
        if let outbox, let source = definition.authority, source.isRemote {
          definition.authority = outbox(name, source)
        }
        result.append(definition)
      }
    }
    for name in configuration.metrics.keys where !result.contains(where: { $0.descriptor.name == name }) {
      throw .invalidField(field: "config.metrics.\(name)", reason: "is not a metric")
    }
    return result
  }

  // MARK: - Lookup

  /// The index of the metric named by these UTF-8 bytes (no allocation).
  public func index(ofMetric name: UnsafeRawBufferPointer) -> Int? {
    for index in nameBytes.indices where nameBytes[index].count == name.count {
      if nameBytes[index].withUnsafeBytes({ $0.elementsEqual(name) }) { return index }
    }
    return nil
  }

  public func index(ofMetric name: String) -> Int? { metricNames.firstIndex(of: name) }

  /// The metric's descriptor as configured now.
  public func descriptor(at index: Int) -> MetricDescriptor {
    state.withLock { $0.records[index].descriptor }
  }

  /// The current time on the context's clock.
  public func now() -> Timestamp { clock.now() }

  public var tier: Tier { state.withLock { $0.tier } }
  public var version: UInt64 { state.withLock { $0.version } }
  public var configuration: UsageConfiguration { state.withLock { $0.configuration } }

  // MARK: - Reading

  /// Every metric (or the ones at `indices`), at the current version.
  public func snapshot(_ indices: [Int]? = nil) -> UsageSnapshot {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      let chosen = indices ?? Array(state.records.indices)
      return UsageSnapshot(
        version: state.version, tier: state.tier, metrics: chosen.map { state.records[$0].state(tier: state.tier) })
    }
  }

  /// One metric's state.
  public func state(ofMetric index: Int) -> MetricState {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      return state.records[index].state(tier: state.tier)
    }
  }

  /// The metrics (among `indices`, or all) that changed after `version`, and the current version.
  public func changes(since version: UInt64, among indices: [Int]? = nil) -> (version: UInt64, metrics: [MetricState]) {
    state.withLock { state in
      let chosen = indices ?? Array(state.records.indices)
      let changed = chosen.filter { state.records[$0].version > version }
      return (state.version, changed.map { state.records[$0].state(tier: state.tier) })
    }
  }

  /// Pre-flight: would this increment stay within the limit? Nothing changes. Fields, when given, are measured
  /// exactly as ``increment`` would measure them; otherwise `amount` (default 1) is the question, also for metrics
  /// counted by fields, whose callers may know only the total they are about to spend.
  public func check(
    metric index: Int, amount: Int64?, fields: [Int64?] = [], labels: [String: String] = [:]
  ) throws(UsageError) -> CheckResult {
    let now = clock.now()
    return try state.withLock { (state: inout State) throws(UsageError) -> CheckResult in
      Self.rollOver(&state, now: now)
      Self.syncCommitted(&state, index, now: now)
      let record = state.records[index]
      let requested: Int64
      if record.descriptor.fields.isEmpty && record.hook == nil || !fields.contains(where: { $0 != nil }) {
        requested = amount ?? 1
      } else {
        requested = try Self.measure(
          descriptor: record.descriptor, hook: record.hook, amount: amount, fields: fields, labels: labels
        ).amount
      }
      let limit = record.descriptor.limits[state.tier]
      return CheckResult(
        metric: record.descriptor.name, allowed: limit.map { record.used.saturatingAdd(requested) <= $0 } ?? true,
        requested: requested, used: record.used, limit: limit, remaining: limit.map { max(0, $0 - record.used) },
        level: record.level)
    }
  }

  // MARK: - Changing

  /// Adds to a metric, at once.
  ///
  /// - Parameters:
  ///   - amount: how much, for metrics without declared fields (default 1); for metrics with fields it may be given
  ///     only if it equals what the fields add up to.
  ///   - fields: values of the descriptor's fields (`nil` where not given), in declaration order.
  ///   - labels: the increment's labels (the breakdown label picks the breakdown entry).
  ///   - enforce: refuse, changing nothing, when the increment would pass the limit (checked and applied in one step).
  /// - Throws: ``UsageError/invalidField(field:reason:)`` for a negative amount or field, missing fields, or an
  ///   amount that differs from the fields' sum; ``UsageError/limitExceeded(metric:used:limit:requested:)``.
  ///   - key: the client's idempotency key, passed on with the change to the metric's authority.
  public func increment(
    metric index: Int, amount: Int64?, fields: [Int64?] = [], labels: [String: String] = [:], enforce: Bool = false,
    key: String? = nil
  ) throws(UsageError) -> MutationResult {
    let now = clock.now()
    return try state.withLock { (state: inout State) throws(UsageError) -> MutationResult in
      Self.rollOver(&state, now: now)
      let committed = Self.syncCommitted(&state, index, now: now)
      let tier = state.tier
      return try Self.increment(
        &state.records[index], amount: amount, fields: fields, labels: labels, enforce: enforce, tier: tier,
        key: key, committed: committed, version: &state.version, events: &state.events)
    }
  }

  /// Measures, checks and applies one increment to `record` (under the lock).
  private static func increment(
    _ record: inout MetricRecord, amount: Int64?, fields: [Int64?], labels: [String: String], enforce: Bool, tier: Tier,
    key: String?, committed: CommittedTotal, version: inout UInt64, events: inout UInt64
  ) throws(UsageError) -> MutationResult {
    if let amount, amount < 0 { throw .invalidField(field: "amount", reason: "must not be negative") }
    if let position = fields.firstIndex(where: { ($0 ?? 0) < 0 }) {
      let names = record.descriptor.fields
      throw .invalidField(field: position < names.count ? names[position] : "fields", reason: "must not be negative")
    }
    let measurement: Measurement
    if record.descriptor.fields.isEmpty && record.hook == nil {
      measurement = Measurement(amount: amount ?? 1)
    } else {
      measurement = try measure(
        descriptor: record.descriptor, hook: record.hook, amount: amount, fields: fields, labels: labels)
    }
    guard committed.admits(measurement.amount) else {
      throw Self.outOfRange(record.descriptor.name)
    }
    if enforce, let limit = record.descriptor.limits[tier], record.used.saturatingAdd(measurement.amount) > limit {
      throw .limitExceeded(metric: record.descriptor.name, used: record.used, limit: limit, requested: measurement.amount)
    }
    guard measurement.amount != 0 || measurement.cost != 0 else {
      // Nothing to count: no new version, nobody is told.
      return MutationResult(state: record.state(tier: tier), crossing: nil)
    }
    version += 1
    let label = record.descriptor.breakdownLabel.map { labels[$0] ?? "unknown" }
    let detail =
      record.keepsDetail
      ? ChangeDetail(
        fields: (0..<record.descriptor.fields.count).map { $0 < fields.count ? fields[$0] ?? 0 : 0 },
        cost: record.descriptor.currency == nil ? 0 : measurement.cost, priced: measurement.priced, events: 1)
      : nil
    record.count(measurement.amount, key: key, label: label, detail: detail, events: &events)
    return apply(measurement, fields: fields, labels: labels, to: &record, version: version, tier: tier)
  }

  /// Takes from a metric, at once. What is shown never goes below zero, but the change is recorded in full: when the
  /// local number is behind the authority's, the authority still loses exactly `amount`.
  /// `key` (the client's idempotency key) goes to the metric's authority with the change.
  /// - Throws: ``UsageError/invalidField(field:reason:)`` when the change would take a running total past the 64-bit
  ///   range (nothing changes).
  public func decrement(metric index: Int, amount: Int64, key: String? = nil) throws(UsageError) -> MutationResult {
    let now = clock.now()
    return try state.withLock { (state: inout State) throws(UsageError) -> MutationResult in
      Self.rollOver(&state, now: now)
      let committed = Self.syncCommitted(&state, index, now: now)
      guard committed.admits(-amount) else { throw Self.outOfRange(state.records[index].descriptor.name) }
      if amount > 0 {
        let shown = state.records[index].used
        state.records[index].count(-amount, key: key, events: &state.events)
        // Below zero nothing visible changes, so there is no new version (the change is recorded all the same).
        if state.records[index].used != shown {
          state.version += 1
          state.records[index].version = state.version
        }
      }
      let crossing = state.records[index].updateLevel(tier: state.tier)
      return MutationResult(state: state.records[index].state(tier: state.tier), crossing: crossing)
    }
  }

  /// Sets a metric back to zero (an administrator's reset, recorded as a reset, not as usage taken back), or shows
  /// one breakdown entry (`breakdownKey`, e.g. a model) from zero again: a display baseline that leaves the period's
  /// total, which counts toward the limit, and the history as they are.
  public func reset(metric index: Int, breakdownKey: String? = nil) throws(UsageError) -> MutationResult {
    let now = clock.now()
    return try state.withLock { (state: inout State) throws(UsageError) -> MutationResult in
      Self.rollOver(&state, now: now)
      if let breakdownKey {
        guard state.records[index].descriptor.breakdownLabel != nil else {
          throw .invalidField(field: "labels", reason: "metric \(state.records[index].descriptor.name) has no breakdown")
        }
        guard state.records[index].resetEntry(breakdownKey) else {
          return MutationResult(state: state.records[index].state(tier: state.tier), crossing: nil)
        }
        ledger.setBaseline(
          metric: state.records[index].descriptor.name, label: breakdownKey, since: state.records[index].periodStart)
      } else {
        Self.syncCommitted(&state, index, now: now)
        let value = state.records[index].reconciliation.value
        guard !state.records[index].isClear || value != 0 else {
          return MutationResult(state: state.records[index].state(tier: state.tier), crossing: nil)
        }
        // Each breakdown entry (with what its own resets hid) is taken back with its own detail, so the history
        // and a restarted session show the reset per model too.
        let entries = state.records[index].entriesWithBaselines
        let name = state.records[index].descriptor.name
        let periodStart = state.records[index].periodStart
        var remaining = value
        for entry in entries {
          state.records[index].count(
            -entry.amount, key: nil, label: entry.key, detail: Self.undoing(entry), kind: .reset,
            events: &state.events)
          remaining -= entry.amount
        }
        let unlabelled = state.records[index].fieldTotals.enumerated().map { position, total in
          total - entries.reduce(0) { $0 + (position < $1.fields.count ? $1.fields[position] : 0) }
        }
        let unlabelledCost = state.records[index].cost - entries.reduce(0) { $0 + $1.cost }
        // Baselines start again from the reset (their entries are back to zero).
        for key in state.records[index].baselines.keys { ledger.setBaseline(metric: name, label: key, since: periodStart) }
        let detail =
          state.records[index].keepsDetail
          ? ChangeDetail(fields: unlabelled.map { -$0 }, cost: -unlabelledCost, priced: true, events: 0) : nil
        state.records[index].clearUsage()
        if remaining != 0 || detail.map({ $0.fields.contains { $0 != 0 } || $0.cost != 0 }) == true {
          state.records[index].count(-remaining, key: nil, detail: detail, kind: .reset, events: &state.events)
        }
      }
      state.version += 1
      state.records[index].version = state.version
      let crossing = state.records[index].updateLevel(tier: state.tier)
      return MutationResult(state: state.records[index].state(tier: state.tier), crossing: crossing)
    }
  }

  /// Reads the committed total of the metric's authority, when it has one (see ``Authority/committed(at:)``), and
  /// takes it as the metric's number; subscribers hear when it moved (another process's change).
  @discardableResult
  private static func syncCommitted(_ state: inout State, _ index: Int, now: Timestamp) -> CommittedTotal {
    let (committed, moved) = state.records[index].syncCommitted(now: now, events: &state.events)
    if moved {
      state.version += 1
      state.records[index].version = state.version
      _ = state.records[index].updateLevel(tier: state.tier)
    }
    return committed
  }

  private static func outOfRange(_ metric: String) -> UsageError {
    .invalidField(
      field: "amount", reason: "would take the total of \(metric) past the 64-bit range (2^63-1); nothing was changed")
  }

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

  /// The detail that takes `entry` back out (the reset of one breakdown entry).
  private static func undoing(_ entry: BreakdownEntry) -> ChangeDetail {
    ChangeDetail(fields: entry.fields.map { -$0 }, cost: -entry.cost, priced: true, events: -entry.events)
  }

  /// Shows again the fields, cost and breakdown the ledger kept for the current period of every metric whose
  /// authority is the ledger (a restarted session); each breakdown entry's facts come from the metric's hook.
  /// `metrics` limits it to those (by name); `nil` for all. Returns the indices of the metrics whose detail was set.
  @discardableResult
  public func restoreDetail(_ metrics: Set<String>? = nil) -> [Int] {
    let now = clock.now()
    return state.withLock { state in
      Self.rollOver(&state, now: now)
      var restored: [Int] = []
      for index in state.records.indices where state.records[index].keepsDetail {
        if let metrics, !metrics.contains(state.records[index].descriptor.name) { continue }
        guard state.records[index].authority is LedgerAuthority else { continue }
        let name = state.records[index].descriptor.name
        let totals = ledger.breakdown(metric: name, since: state.records[index].periodStart)
        guard !totals.isEmpty else { continue }
        let baselines = ledger.baselines(metric: name, since: state.records[index].periodStart)
        let record = state.records[index]
        state.records[index].restore(totals, baselines: baselines) { label in
          guard let field = record.descriptor.breakdownLabel, let hook = record.hook else { return [:] }
          let zero = Array(repeating: Int64(0), count: record.descriptor.fields.count)
          return (try? hook.measure(MeasureInput(fields: zero, labels: [field: label])))?.attributes ?? [:]
        }
        state.version += 1
        state.records[index].version = state.version
        restored.append(index)
      }
      return restored
    }
  }

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

  /// Applies configuration overrides (from `initialize`): limits, periods, thresholds, plugin options.
  /// Numbers already counted are kept.
  public func reconfigure(_ configuration: UsageConfiguration) throws(UsageError) -> [ThresholdCrossing] {
    let definitions = try Self.definitions(
      plugins: plugins, configuration: configuration, ledger: ledger, authorities: authorityOverrides, clock: clock,
      outbox: outbox)
    let now = clock.now()
    return state.withLock { state in
      for (index, definition) in definitions.enumerated() where index < state.records.count {
        let periodChanged = state.records[index].descriptor.period != definition.descriptor.period
        state.records[index].descriptor = definition.descriptor
        state.records[index].hook = definition.hook
        state.records[index].authority = definition.authority
        // The authority may mean something else now (another directory, other options): its next reading starts
        // afresh rather than as a drift.
        state.records[index].reconciliation.forgetReading()
        if periodChanged { state.records[index].startPeriod(containing: now) }
      }
      state.configuration = configuration
      state.tier = configuration.tier
      Self.rollOver(&state, now: now)
      return Self.touchAll(&state)
    }
  }

  /// Where the metric's authoritative value lives, if anywhere.
  public func authority(ofMetric index: Int) -> (any Authority)? {
    state.withLock { $0.records[index].authority }
  }

  /// The indices of the metrics that have an authority.
  public var metricsWithAuthority: [Int] {
    state.withLock { state in state.records.indices.filter { state.records[$0].authority != nil } }
  }

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
        return .accepted(MutationResult(state: state.records[index].state(tier: state.tier), crossing: nil), drift: drift)
      }
      state.records[index].used = used
      state.records[index].error = nil
      state.version += 1
      state.records[index].version = state.version
      let crossing = state.records[index].updateLevel(tier: state.tier)
      return .accepted(MutationResult(state: state.records[index].state(tier: state.tier), crossing: crossing), drift: drift)
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

  // MARK: - Periods

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
  private static func rollOver(_ state: inout State, now: Timestamp) -> Bool {
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

  private static func touchAll(_ state: inout State) -> [ThresholdCrossing] {
    state.version += 1
    var crossings: [ThresholdCrossing] = []
    for index in state.records.indices {
      state.records[index].version = state.version
      if let crossing = state.records[index].updateLevel(tier: state.tier) { crossings.append(crossing) }
    }
    return crossings
  }

  // MARK: - Measuring

  private static func measure(
    descriptor: MetricDescriptor, hook: (any MeasureHook)?, amount: Int64?, fields: [Int64?], labels: [String: String]
  ) throws(UsageError) -> Measurement {
    guard !descriptor.fields.isEmpty else {
      return Measurement(amount: amount ?? 1)
    }
    let given = fields.contains { $0 != nil }
    guard given else {
      let names = descriptor.fields.joined(separator: ", ")
      throw .invalidField(field: descriptor.fields[0], reason: "is required: \(descriptor.name) counts \(names)")
    }
    var values = Array(repeating: Int64(0), count: descriptor.fields.count)
    for (position, value) in fields.enumerated() where position < values.count { values[position] = value ?? 0 }
    let measurement =
      try hook?.measure(MeasureInput(fields: values, labels: labels))
      ?? Measurement(amount: values.reduce(0) { $0.saturatingAdd($1) })
    if let amount, amount != measurement.amount {
      throw .invalidField(
        field: "amount", reason: "must equal \(measurement.amount), what \(descriptor.fields.joined(separator: " + ")) add up to")
    }
    return measurement
  }

  private static func apply(
    _ measurement: Measurement, fields: [Int64?], labels: [String: String], to record: inout MetricRecord,
    version: UInt64, tier: Tier
  ) -> MutationResult {
    record.version = version
    if !record.fieldTotals.isEmpty {
      for (position, value) in fields.enumerated() where position < record.fieldTotals.count {
        record.fieldTotals[position] = record.fieldTotals[position].saturatingAdd(value ?? 0)
      }
    }
    if record.descriptor.currency != nil { record.cost += measurement.cost }
    if let label = record.descriptor.breakdownLabel {
      let key = labels[label] ?? "unknown"
      let position: Int
      if let existing = record.breakdownIndex[key] {
        position = existing
      } else {
        position = record.breakdown.count
        record.breakdownIndex[key] = position
        record.breakdown.append(
          BreakdownEntry(
            key: key, amount: 0, fields: Array(repeating: 0, count: record.fieldTotals.count), cost: 0, priced: true,
            events: 0, attributes: [:]))
      }
      let wasPriced = record.breakdown[position].priced
      record.breakdown[position].amount = record.breakdown[position].amount.saturatingAdd(measurement.amount)
      for (field, value) in fields.enumerated() where field < record.breakdown[position].fields.count {
        record.breakdown[position].fields[field] = record.breakdown[position].fields[field].saturatingAdd(value ?? 0)
      }
      record.breakdown[position].cost += measurement.cost
      record.breakdown[position].priced = wasPriced && measurement.priced
      record.breakdown[position].events += 1
      if record.breakdown[position].attributes != measurement.attributes {
        record.breakdown[position].attributes.merge(measurement.attributes) { _, new in new }
      }
      if wasPriced && !measurement.priced { record.unpriced.append(key) }
    }
    let crossing = record.updateLevel(tier: tier)
    return MutationResult(state: record.state(tier: tier), crossing: crossing)
  }
}
