import JSON
import JSONRPC
import UsageCore

/// Reading the params the usage methods share: metrics, metric lists, tiers.
extension UsageService {

  func metricIndex(_ params: Params) throws(RPCError) -> Int {
    guard let value = params["metric"] else { throw RPCError.invalidParams(field: "metric", "is required") }
    guard let index = value.withStringBytes({ context.index(ofMetric: $0) }) else {
      if !value.isString {
        throw RPCError.invalidParams(
          field: "metric", "must be a string, not \(value.typeName)", value: Params.shown(value))
      }
      throw unknownMetric(value.string ?? "")
    }
    guard let index else { throw unknownMetric(value.string ?? "") }
    return index
  }

  func unknownMetric(_ name: String) -> RPCError {
    RPCError(
      .invalidParams, "Invalid params: unknown metric \(name)",
      data: [
        "field": "metric", "reason": "is not a known metric", "value": .string(name),
        "known": .array(context.metricNames.map { .string($0) }),
      ])
  }

  /// `metrics: [names]` → indices, or `nil` for all.
  func metricList(_ params: Params) throws(RPCError) -> [Int]? {
    guard let value = params["metrics"] else { return nil }
    guard value.isArray else { throw RPCError.invalidParams(field: "metrics", "must be an array of metric names") }
    var indices: [Int] = []
    for (position, element) in value.elements.enumerated() {
      guard let name = element.string else {
        throw RPCError.invalidParams(field: "metrics[\(position)]", "must be a string", value: Params.shown(element))
      }
      guard let index = context.index(ofMetric: name) else { throw unknownMetric(name) }
      if !indices.contains(index) { indices.append(index) }
    }
    return indices
  }

  func tierParam(_ params: Params) throws(RPCError) -> Tier {
    let name = try params.requiredString("tier")
    guard let tier = Tier(rawValue: name) else {
      throw RPCError.invalidParams(field: "tier", "must be one of free, pro, ultra", value: .string(name))
    }
    return tier
  }
}
