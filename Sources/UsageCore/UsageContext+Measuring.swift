/// How a change is measured (fields and the plugin's hook: amount, cost, breakdown entry) and shown (field totals,
/// cost, breakdown) once counted.
extension UsageContext {

  static func measure(
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
        field: "amount",
        reason: "must equal \(measurement.amount), what \(descriptor.fields.joined(separator: " + ")) add up to")
    }
    return measurement
  }

  static func apply(
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
