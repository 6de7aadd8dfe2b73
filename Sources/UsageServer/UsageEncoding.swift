import JSON
import PluginHost
import UsageCore

/// The wire form of the usage context's values, written straight into the answer.
extension JSONWriter {
  /// Writes a metric's state; `withSync: false` leaves out how it stands with its authority (the answers to changes,
  /// which are on the hot path: the sync state is told by `usage/get`, subscriptions and `usage/refresh`).
  /// `authority` names the authority that decided a change (`"postgres"`, `"offline"`), when it is a shared one.
  mutating func metricState(_ state: MetricState, withSync: Bool = true, authority: String? = nil) {
    beginObject()
    key("name"); string(text: state.name)
    key("kind"); string(text: state.kind.rawValue)
    key("unit"); string(text: state.unit)
    key("used"); int(state.used)
    key("limit"); optionalInt(state.limit)
    key("remaining"); optionalInt(state.remaining)
    key("ratio"); double(state.ratio)
    key("level"); string(text: state.level.rawValue)
    key("version"); int(Int64(clamping: state.version))
    key("period"); string(text: state.period.rawValue)
    if state.period != .unlimited {
      if let text = state.periodText {
        key("periodStart"); string(text: text.start)
        key("nextReset"); string(text: text.nextReset)
      } else {
        key("periodStart"); optionalTimestamp(state.periodStart)
        key("nextReset"); optionalTimestamp(state.nextReset)
      }
    }
    for (name, total) in state.fields {
      key(text: name); int(total)
    }
    if let currency = state.currency {
      key("cost"); cost(state.cost ?? 0)
      key("currency"); string(text: currency)
    }
    if let breakdownName = state.breakdownName {
      key(text: breakdownName)
      beginObject()
      for entry in state.breakdown {
        key(text: entry.key)
        breakdownEntry(entry, fieldNames: state.fields.map(\.name), priced: state.currency != nil)
      }
      endObject()
    }
    if !state.unpriced.isEmpty {
      key("unpriced")
      beginArray()
      for name in state.unpriced { string(text: name) }
      endArray()
    }
    if let error = state.error {
      key("error"); string(text: error)
    }
    if withSync, let sync = state.sync {
      key("sync")
      beginObject()
      key("state"); string(text: sync.state.rawValue)
      key("lastSyncedAt"); optionalString(sync.lastSyncedAtText)
      key("nextRefreshAt"); optionalString(sync.nextRefreshAtText)
      key("attempt"); int(Int64(sync.attempt))
      key("error"); optionalString(sync.error)
      key("unconfirmed"); int(state.unconfirmed)
      endObject()
    }
    if let authority {
      key("authority"); string(text: authority)
    }
    endObject()
  }

  /// `{metric, state, lastSyncedAt, nextRefreshAt, attempt, error}` (`usage/syncState`).
  mutating func syncState(metric: String, _ sync: SyncStatus) {
    beginObject()
    key("metric"); string(text: metric)
    key("state"); string(text: sync.state.rawValue)
    key("lastSyncedAt"); optionalString(sync.lastSyncedAtText)
    key("nextRefreshAt"); optionalString(sync.nextRefreshAtText)
    key("attempt"); int(Int64(sync.attempt))
    key("error"); optionalString(sync.error)
    endObject()
  }

  /// `{metric, expected, authoritative, delta}` (`usage/drift`).
  /// `source` names where the change came from (another device of the account), when it is known.
  mutating func drift(_ drift: Drift, source: String? = nil) {
    beginObject()
    key("metric"); string(text: drift.metric)
    key("expected"); int(drift.expected)
    key("authoritative"); int(drift.authoritative)
    key("delta"); int(drift.delta)
    if let source {
      key("source"); string(text: source)
    }
    endObject()
  }

  private mutating func optionalString(_ text: String?) {
    if let text { string(text: text) } else { null() }
  }

  private mutating func breakdownEntry(_ entry: BreakdownEntry, fieldNames: [String], priced: Bool) {
    beginObject()
    key("used"); int(entry.amount)
    for (name, total) in zip(fieldNames, entry.fields) {
      key(text: name); int(total)
    }
    if priced {
      key("cost"); cost(entry.cost)
      key("priced"); bool(entry.priced)
    }
    key("events"); int(entry.events)
    for (name, value) in entry.attributes.sorted(by: { $0.key < $1.key }) {
      key(text: name); string(text: value)
    }
    endObject()
  }

  /// `{version, tier, metrics: {name: MetricState}}`.
  mutating func snapshot(_ snapshot: UsageSnapshot) {
    beginObject()
    key("version"); int(Int64(clamping: snapshot.version))
    key("tier"); string(text: snapshot.tier.rawValue)
    key("metrics")
    metricMap(snapshot.metrics)
    endObject()
  }

  /// `{name: MetricState, …}`.
  mutating func metricMap(_ states: [MetricState]) {
    beginObject()
    for state in states {
      key(text: state.name)
      metricState(state)
    }
    endObject()
  }

  mutating func checkResult(_ result: CheckResult) {
    beginObject()
    key("metric"); string(text: result.metric)
    key("allowed"); bool(result.allowed)
    key("requested"); int(result.requested)
    key("used"); int(result.used)
    key("limit"); optionalInt(result.limit)
    key("remaining"); optionalInt(result.remaining)
    key("level"); string(text: result.level.rawValue)
    endObject()
  }

  mutating func thresholdCrossing(_ crossing: ThresholdCrossing) {
    beginObject()
    key("metric"); string(text: crossing.metric)
    key("level"); string(text: crossing.level.rawValue)
    key("ratio"); double(crossing.ratio)
    key("used"); int(crossing.used)
    key("limit"); optionalInt(crossing.limit)
    endObject()
  }

  mutating func descriptor(_ descriptor: MetricDescriptor) {
    beginObject()
    key("name"); string(text: descriptor.name)
    key("unit"); string(text: descriptor.unit)
    key("kind"); string(text: descriptor.kind.rawValue)
    key("period"); string(text: descriptor.period.rawValue)
    key("limits")
    beginObject()
    for tier in Tier.allCases {
      key(text: tier.rawValue); optionalInt(descriptor.limits[tier])
    }
    endObject()
    key("thresholds")
    beginObject()
    key("warning"); double(descriptor.thresholds.warning)
    key("exceeded"); double(descriptor.thresholds.exceeded)
    endObject()
    key("fields")
    beginArray()
    for field in descriptor.fields { string(text: field) }
    endArray()
    if let label = descriptor.breakdownLabel {
      key("breakdownLabel"); string(text: label)
    }
    if let currency = descriptor.currency {
      key("currency"); string(text: currency)
    }
    endObject()
  }

  /// Money, rounded to 10 decimal places so sums of prices do not show binary floating-point noise.
  mutating func cost(_ value: Double) {
    double((value * 1e10).rounded() / 1e10)
  }

  /// One entry of `plugins/list`.
  mutating func pluginStatus(_ status: PluginStatus) {
    beginObject()
    key("name"); string(text: status.name)
    key("version"); if let version = status.version { string(text: version) } else { null() }
    key("abi"); if let abi = status.abi { int(Int64(abi)) } else { null() }
    key("kind"); string(text: status.kind.rawValue)
    key("path"); string(text: status.path)
    key("metrics")
    beginArray()
    for metric in status.metrics { string(text: metric) }
    endArray()
    key("sources")
    beginArray()
    for metric in status.sources { string(text: metric) }
    endArray()
    key("state"); string(text: status.state.rawValue)
    key("lastError"); if let error = status.lastError { string(text: error) } else { null() }
    endObject()
  }

  mutating func optionalInt(_ value: Int64?) {
    if let value { int(value) } else { null() }
  }

  mutating func optionalTimestamp(_ value: Timestamp?) {
    if let value { string(text: value.iso8601) } else { null() }
  }
}

extension ConfigValue {
  /// Copies a parsed JSON value into a configuration value.
  init(_ value: JSONValue) {
    switch value.kind {
    case .null: self = .null
    case .bool: self = .bool(value.bool ?? false)
    case .integer, .real: self = .number(value.double ?? 0)
    case .string: self = .string(value.string ?? "")
    case .array: self = .array(value.elements.map(ConfigValue.init))
    case .object:
      var members: [String: ConfigValue] = [:]
      for (key, member) in value.members { members[key] = ConfigValue(member) }
      self = .object(members)
    }
  }
}
