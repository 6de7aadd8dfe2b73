public import UsageCore

/// One row of the change log, as `usagectx export` writes it: a change (or, for changes made without a key in one
/// burst, or rolled up after the retention, several of the same group: ``count``).
public struct ChangeRow: Sendable, Equatable {
  /// When it was applied, in milliseconds since the epoch (the day's start for a rolled-up row).
  public var at: Int64
  public var metric: String
  /// The change, signed (the sum, for a row of several).
  public var delta: Int64
  public var kind: ChangeKind
  /// How many changes the row holds.
  public var count: Int64
  public var key: String?
  /// The breakdown entry (the model, for tokens).
  public var label: String?
  /// Every label the change was made with, as kept (``ChangeLabels``); `nil` for none or for older changes.
  public var labels: String?
  /// The field values (``LedgerStore/keptFields`` of them, in the metric's field order).
  public var fields: [Int64]
  public var cost: Double

  public init(
    at: Int64, metric: String, delta: Int64, kind: ChangeKind = .change, count: Int64 = 1, key: String? = nil,
    label: String? = nil, labels: String? = nil, fields: [Int64] = [0, 0, 0, 0], cost: Double = 0
  ) {
    self.at = at
    self.metric = metric
    self.delta = delta
    self.kind = kind
    self.count = count
    self.key = key
    self.label = label
    self.labels = labels
    self.fields = fields
    self.cost = cost
  }
}

extension LedgerStore {
  /// Calls `body` with each row of the change log applied in `since..<until` (milliseconds; `nil` leaves that end
  /// open), of `metric` only when given, in the order they were written. Rows are read one at a time, so a large
  /// ledger is streamed, never held.
  public func forEachChange(
    metric: String?, since: Int64?, until: Int64?, _ body: (ChangeRow) -> Void
  ) throws(LedgerError) {
    let first = since ?? .min
    guard until != .min else { return }
    let last = until.map { $0 - 1 } ?? .max
    guard first <= last else { return }
    let filter = (metric == nil ? "" : "metric = ? AND ") + "at_ms BETWEEN ? AND ?"
    let statement = try connection.prepare(
      """
      SELECT at_ms, metric, delta, kind, count, key, label, labels, f0, f1, f2, f3, cost
      FROM changes WHERE \(filter) ORDER BY id
      """)
    try statement.bind((metric.map { [SQLiteValue.text($0)] } ?? []) + [.integer(first), .integer(last)])
    while try statement.step() {
      body(
        ChangeRow(
          at: statement.int64(0), metric: statement.text(1) ?? "", delta: statement.int64(2),
          kind: ChangeKind(rawValue: statement.int64(3)) ?? .change, count: statement.int64(4),
          key: statement.isNull(5) ? nil : statement.text(5), label: statement.isNull(6) ? nil : statement.text(6),
          labels: statement.isNull(7) ? nil : statement.text(7), fields: (8..<12).map { statement.int64($0) },
          cost: statement.double(12)))
    }
  }
}
