public import JSON

/// What a person sees of one metric: its numbers as a snapshot, `usage/get` or `usage/changed` carries them (a
/// MetricState, see protocol/usagectx.openrpc.json), read once so every face formats the same values.
public struct MetricSummary: Sendable, Equatable {
  /// One entry of a breakdown (a model of the tokens metric).
  public struct Entry: Sendable, Equatable {
    public var name: String
    public var used: Int64
    /// Field values by name (`input`, `output`, …), in the order the state lists them.
    public var fields: [(name: String, value: Int64)]
    public var cost: Double?
    public var provider: String?

    public static func == (lhs: Entry, rhs: Entry) -> Bool {
      lhs.name == rhs.name && lhs.used == rhs.used && lhs.cost == rhs.cost && lhs.provider == rhs.provider
        && lhs.fields.map(\.name) == rhs.fields.map(\.name) && lhs.fields.map(\.value) == rhs.fields.map(\.value)
    }
  }

  public var name: String
  public var kind: String
  public var unit: String
  public var used: Int64
  /// `nil` when the tier sets no limit.
  public var limit: Int64?
  public var remaining: Int64?
  public var ratio: Double
  public var level: UsageLevel
  /// `unlimited`, `daily` or `monthly`.
  public var period: String
  public var periodStart: String?
  /// When the period ends (ISO 8601, UTC).
  public var nextReset: String?
  public var cost: Double?
  public var currency: String?
  /// Field totals (`input`, `output`) for metrics that have fields.
  public var fields: [(name: String, value: Int64)]
  public var breakdown: [Entry]
  /// `idle`, `loading` or `error` (`nil` when the state carried no sync member).
  public var syncState: String?
  public var syncError: String?
  public var lastSyncedAt: String?

  /// The members a MetricState always has; any other integer member is one of the metric's fields.
  static let stateMembers: Set<String> = [
    "used", "limit", "remaining", "version", "ratio", "events", "cost", "priced",
  ]

  /// Reads a MetricState object; `nil` when it is not one.
  public init?(_ state: JSONData) {
    guard let name = state["name"]?.string, let used = state["used"]?.int else { return nil }
    self.name = name
    kind = state["kind"]?.string ?? ""
    unit = state["unit"]?.string ?? ""
    self.used = used
    limit = state["limit"]?.int
    remaining = state["remaining"]?.int
    ratio = state["ratio"]?.number ?? 0
    level = UsageLevel(rawValue: state["level"]?.string ?? "") ?? .ok
    period = state["period"]?.string ?? "unlimited"
    periodStart = state["periodStart"]?.string
    nextReset = state["nextReset"]?.string
    cost = state["cost"]?.number
    currency = state["currency"]?.string
    fields = Self.fields(of: state)
    breakdown = []
    for (member, value) in state.objectMembers ?? [] where member.hasPrefix("by") && value.objectMembers != nil {
      for (entry, detail) in value.objectMembers ?? [] {
        breakdown.append(
          Entry(
            name: entry, used: detail["used"]?.int ?? 0, fields: Self.fields(of: detail), cost: detail["cost"]?.number,
            provider: detail["provider"]?.string))
      }
    }
    let sync = state["sync"]
    syncState = sync?["state"]?.string
    syncError = sync?["error"]?.string
    lastSyncedAt = sync?["lastSyncedAt"]?.string
  }

  public init(
    name: String, unit: String, used: Int64, limit: Int64?, level: UsageLevel, kind: String = "",
    period: String = "unlimited"
  ) {
    self.name = name
    self.kind = kind
    self.unit = unit
    self.used = used
    self.limit = limit
    self.remaining = limit.map { max(0, $0 - used) }
    self.ratio = limit.map { $0 > 0 ? Double(used) / Double($0) : 0 } ?? 0
    self.level = level
    self.period = period
    fields = []
    breakdown = []
  }

  private static func fields(of object: JSONData) -> [(name: String, value: Int64)] {
    (object.objectMembers ?? []).compactMap { member, value in
      guard !stateMembers.contains(member), case .int(let number) = value else { return nil }
      return (member, number)
    }
  }

  public static func == (lhs: MetricSummary, rhs: MetricSummary) -> Bool {
    lhs.name == rhs.name && lhs.used == rhs.used && lhs.limit == rhs.limit && lhs.level == rhs.level
      && lhs.ratio == rhs.ratio && lhs.cost == rhs.cost && lhs.breakdown == rhs.breakdown
      && lhs.syncState == rhs.syncState && lhs.nextReset == rhs.nextReset
      && lhs.fields.map(\.value) == rhs.fields.map(\.value)
  }
}

/// A metric's level, as the context reports it, ordered from best to worst.
public enum UsageLevel: String, Sendable, Comparable, CaseIterable {
  case ok, warning, exceeded

  /// The exit status of `usagectx status`: 0, 1 or 2.
  public var exitStatus: Int32 {
    switch self {
    case .ok: 0
    case .warning: 1
    case .exceeded: 2
    }
  }

  public static func < (lhs: UsageLevel, rhs: UsageLevel) -> Bool { lhs.exitStatus < rhs.exitStatus }
}
