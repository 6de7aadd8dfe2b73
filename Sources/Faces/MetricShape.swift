/// What the report and export formats need to know of a metric beyond the ledger: the names of its fields (the
/// ledger keeps their values by position) and the currency of its cost.
public struct MetricShape: Sendable, Equatable {
  public var name: String
  public var fields: [String]
  /// `nil` for a metric without a cost.
  public var currency: String?
  /// The metric's unit (`tokens`, `bytes`).
  public var unit: String

  public init(name: String, fields: [String] = [], currency: String? = nil, unit: String = "") {
    self.name = name
    self.fields = fields
    self.currency = currency
    self.unit = unit
  }

  /// The field names of `shapes` in first-seen order (the columns of a table over several metrics).
  public static func fieldColumns(_ shapes: [MetricShape]) -> [String] {
    var columns: [String] = []
    for shape in shapes { for field in shape.fields where !columns.contains(field) { columns.append(field) } }
    return columns
  }
}
