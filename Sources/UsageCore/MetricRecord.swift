/// One metric's mutable numbers. Owned by ``UsageContext``'s lock; never shared.
struct MetricRecord {
  var descriptor: MetricDescriptor
  var hook: (any MeasureHook)?
  var authority: (any Authority)?
  var used: Int64 = 0
  var fieldTotals: [Int64]
  var cost: Double = 0
  /// Breakdown entries in the order they first appeared; states share this array without copying it.
  var breakdown: [BreakdownEntry] = []
  /// Where each key's entry is in `breakdown`.
  var breakdownIndex: [String: Int] = [:]
  /// Keys of entries that could not be priced, in order.
  var unpriced: [String] = []
  /// What each entry reset on its own (a model's reset) had used this period: no longer shown in its entry, still
  /// in the period's total.
  var baselines: [String: BreakdownEntry] = [:]
  var periodStart: Timestamp?
  var nextReset: Timestamp?
  /// `periodStart` and `nextReset` in ISO 8601, formatted once per period rather than once per answer.
  var periodText: (start: String, nextReset: String)?
  var level: UsageLevel = .ok
  var version: UInt64 = 0
  var error: String?
  /// How `used` converges on the authority's number.
  var reconciliation = Reconciliation()
  var sync: SyncStatus?

  init(definition: MetricDefinition, now: Timestamp) {
    descriptor = definition.descriptor
    hook = definition.hook
    authority = definition.authority
    fieldTotals = Array(repeating: 0, count: definition.descriptor.fields.count)
    startPeriod(containing: now)
  }

  /// Starts the period that contains `now` (no effect on unlimited metrics).
  mutating func startPeriod(containing now: Timestamp) {
    periodStart = descriptor.period.start(containing: now)
    nextReset = periodStart.flatMap { descriptor.period.end(ofPeriodStartingAt: $0) }
    if let periodStart, let nextReset {
      periodText = (periodStart.iso8601, nextReset.iso8601)
    } else {
      periodText = nil
    }
  }

  /// Sets every number back to zero (period rollover, reset).
  mutating func clearUsage() {
    used = 0
    for index in fieldTotals.indices { fieldTotals[index] = 0 }
    cost = 0
    breakdown.removeAll()
    breakdownIndex.removeAll()
    unpriced.removeAll()
    baselines.removeAll()
  }

  /// Every entry's usage this period: what it shows plus its baseline.
  var entriesWithBaselines: [BreakdownEntry] {
    var entries = breakdown
    for (key, baseline) in baselines.sorted(by: { $0.key < $1.key }) {
      if let position = breakdownIndex[key] {
        entries[position].add(baseline)
      } else {
        entries.append(baseline)
      }
    }
    return entries
  }

  /// Shows the entry for `key` from zero again; what it used becomes its baseline. Returns `false` when there is no
  /// such entry.
  mutating func resetEntry(_ key: String) -> Bool {
    guard let entry = removeBreakdownEntry(key) else { return false }
    if baselines[key] == nil {
      baselines[key] = entry
    } else {
      baselines[key]?.add(entry)
    }
    return true
  }

  /// `true` when there is nothing counted (a reset would change nothing).
  var isClear: Bool {
    used == 0 && cost == 0 && breakdown.isEmpty && fieldTotals.allSatisfy { $0 == 0 }
  }

  /// Starts a new period when the current one has ended, counting again from zero; `event` is the context's next
  /// event number (readings started earlier belong to the old period). Returns `true` when it did.
  mutating func rollOverIfDue(now: Timestamp, event: UInt64) -> Bool {
    guard let nextReset, now >= nextReset else { return false }
    clearUsage()
    reconciliation.restart(event: event)
    startPeriod(containing: now)
    return true
  }

  /// Passes a change of `delta` on to the authority (with the client's idempotency `key`) and counts it; `events` is
  /// the context's event counter. `used` follows.
  mutating func count(
    _ delta: Int64, key: String?, label: String? = nil, detail: ChangeDetail? = nil, kind: ChangeKind = .change,
    labels: [String: String] = [:], events: inout UInt64
  ) {
    let seq = reconciliation.nextSeq()
    let change = ReportedChange(
      seq: seq, delta: delta, key: key, label: label, detail: detail, kind: kind, labels: labels,
      fieldNames: detail == nil ? [] : descriptor.fields)
    let receipt = authority?.report(change) ?? .recorded
    if receipt == .recorded { events += 1 }
    reconciliation.record(seq: seq, delta: delta, receipt: receipt, event: events)
    used = max(0, reconciliation.value)
  }

  /// Reads the authority's committed total when it has one (the ledger, inside the transaction deciding a change)
  /// and takes it as the metric's number; `events` is the context's event counter. Returns the committed total, or
  /// for other sources the metric's own number; `nil` when the number moved, so subscribers should hear.
  mutating func syncCommitted(now: Timestamp, events: inout UInt64) -> (total: CommittedTotal, moved: Bool) {
    guard let committed = authority?.committed(at: now) else {
      return (CommittedTotal(total: reconciliation.value), false)
    }
    events += 1
    reconciliation.sync(committed.total, event: events)
    let shown = max(0, reconciliation.value)
    defer { used = shown }
    return (committed, shown != used)
  }

  /// Whether changes carry detail (fields, a cost or a breakdown) worth keeping in the ledger.
  var keepsDetail: Bool {
    !descriptor.fields.isEmpty || descriptor.currency != nil || descriptor.breakdownLabel != nil
  }

  /// Sets the fields, cost and breakdown from what the ledger summed (a restarted session); each entry shows what
  /// it used since its baseline (its last reset), the fields and cost all of it; `attributes` gives each label's
  /// facts (from the hook). `used` is left to the authority's reading.
  mutating func restore(
    _ totals: [BreakdownTotal], baselines: [BreakdownTotal] = [], attributes: (String) -> [String: String]
  ) {
    for index in fieldTotals.indices { fieldTotals[index] = 0 }
    cost = 0
    breakdown.removeAll()
    breakdownIndex.removeAll()
    unpriced.removeAll()
    self.baselines = [:]
    for baseline in baselines {
      guard let label = baseline.label else { continue }
      self.baselines[label] = BreakdownEntry(
        key: label, amount: baseline.amount, fields: baseline.fields, cost: baseline.cost, priced: true,
        events: baseline.events, attributes: [:])
    }
    for total in totals {
      for (position, value) in total.fields.enumerated() where position < fieldTotals.count {
        fieldTotals[position] = fieldTotals[position].saturatingAdd(value)
      }
      if descriptor.currency != nil { cost += total.cost }
      guard descriptor.breakdownLabel != nil, let label = total.label else { continue }
      var total = total
      if let baseline = baselines.first(where: { $0.label == label }) {
        total.amount &-= baseline.amount
        total.fields = total.fields.enumerated().map { $1 &- ($0 < baseline.fields.count ? baseline.fields[$0] : 0) }
        total.cost -= baseline.cost
        total.events &-= baseline.events
      }
      guard total.amount != 0 || total.events > 0 || total.fields.contains(where: { $0 != 0 }) else { continue }
      breakdownIndex[label] = breakdown.count
      breakdown.append(
        BreakdownEntry(
          key: label, amount: total.amount,
          fields: (0..<fieldTotals.count).map { $0 < total.fields.count ? total.fields[$0] : 0 }, cost: total.cost,
          priced: total.priced, events: max(0, total.events), attributes: attributes(label)))
      if !total.priced { unpriced.append(label) }
    }
  }

  /// Removes the breakdown entry for `key` and returns it.
  mutating func removeBreakdownEntry(_ key: String) -> BreakdownEntry? {
    guard let position = breakdownIndex.removeValue(forKey: key) else { return nil }
    let entry = breakdown.remove(at: position)
    for later in breakdown[position...].map(\.key) { breakdownIndex[later, default: 0] -= 1 }
    unpriced.removeAll { $0 == key }
    return entry
  }

  /// Recomputes the level for `tier`; returns the crossing when the level rose.
  mutating func updateLevel(tier: Tier) -> ThresholdCrossing? {
    let limit = descriptor.limits[tier]
    let newLevel = descriptor.thresholds.level(used: used, limit: limit)
    defer { level = newLevel }
    guard newLevel > level else { return nil }
    return ThresholdCrossing(
      metric: descriptor.name, level: newLevel, ratio: Thresholds.ratio(used: used, limit: limit), used: used,
      limit: limit)
  }

  func state(tier: Tier) -> MetricState {
    let limit = descriptor.limits[tier]
    return MetricState(
      name: descriptor.name, kind: descriptor.kind, unit: descriptor.unit, used: used, limit: limit,
      remaining: limit.map { max(0, $0 - used) }, ratio: Thresholds.ratio(used: used, limit: limit),
      level: level, version: version, period: descriptor.period, periodStart: periodStart, nextReset: nextReset,
      periodText: periodText,
      fields: descriptor.fields.isEmpty ? [] : zip(descriptor.fields, fieldTotals).map { ($0, $1) },
      cost: descriptor.currency == nil ? nil : cost, currency: descriptor.currency,
      breakdownName: descriptor.breakdownName,
      breakdown: breakdown, unpriced: unpriced, error: error, sync: sync,
      unconfirmed: reconciliation.unsettledSum.saturatingAdd(authority?.unconfirmed ?? 0))
  }
}

extension Int64 {
  /// `self + other`, staying at the largest value instead of overflowing.
  public func saturatingAdd(_ other: Int64) -> Int64 {
    let (sum, overflow) = addingReportingOverflow(other)
    return overflow ? (other > 0 ? .max : .min) : sum
  }
}

extension BreakdownEntry {
  /// Adds another entry's usage to this one's.
  mutating func add(_ other: BreakdownEntry) {
    amount = amount.saturatingAdd(other.amount)
    if fields.count < other.fields.count { fields += Array(repeating: 0, count: other.fields.count - fields.count) }
    for (position, value) in other.fields.enumerated() { fields[position] = fields[position].saturatingAdd(value) }
    cost += other.cost
    priced = priced && other.priced
    events = events.saturatingAdd(other.events)
  }
}
