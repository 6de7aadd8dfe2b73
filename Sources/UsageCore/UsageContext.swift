import Synchronization

/// The person's global usage: every metric's numbers, the tier, and a version that grows with each change.
///
/// The single owner of that state (a lock, so the hot path pays no task hop). Metrics come from plugins; what a
/// metric does comes only from its descriptor and hook. Calendar time comes from the injected ``WallClock``:
/// periodic metrics roll over when their period ends, checked on every access and by ``rollOverDueMetrics()``.
public final class UsageContext: Sendable {
  struct State {
    var tier: Tier
    var version: UInt64 = 0
    /// Numbers the events that decide whether a reading is stale (settlements, restarts of a count).
    var events: UInt64 = 0
    var records: [MetricRecord]
    var configuration: UsageConfiguration
  }

  /// The context's state; every access holds its lock.
  let state: Mutex<State>
  private let plugins: [any MetricPlugin]
  let clock: any WallClock
  let ledger: any UsageLedger
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
      throw .limitExceeded(
        metric: record.descriptor.name, used: record.used, limit: limit, requested: measurement.amount)
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
    record.count(measurement.amount, key: key, label: label, detail: detail, labels: labels, events: &events)
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
          throw .invalidField(
            field: "labels", reason: "metric \(state.records[index].descriptor.name) has no breakdown")
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
        for key in state.records[index].baselines.keys {
          ledger.setBaseline(metric: name, label: key, since: periodStart)
        }
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

  /// The detail that takes `entry` back out (the reset of one breakdown entry).
  private static func undoing(_ entry: BreakdownEntry) -> ChangeDetail {
    ChangeDetail(fields: entry.fields.map { -$0 }, cost: -entry.cost, priced: true, events: -entry.events)
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
}
