/// The client's subscriptions to usage changes, and how far each has been told.
///
/// Changes are coalesced: at the end of each burst, each subscription gets one `usage/changed` carrying the latest
/// state of the metrics that changed since it was last told, so memory stays bounded however fast numbers move and
/// the last notification always carries the final values.
struct Subscriptions {
  struct Entry {
    let id: String
    /// Metric indices watched; `nil` for all.
    let metrics: [Int]?
    /// The context version this subscriber has seen.
    var seenVersion: UInt64
  }

  private(set) var entries: [Entry] = []
  private var nextNumber = 1

  var isEmpty: Bool { entries.isEmpty }

  /// Whether some subscription watches `metric`.
  func covers(_ metric: Int) -> Bool {
    entries.contains { $0.metrics?.contains(metric) ?? true }
  }

  mutating func add(metrics: [Int]?, seenVersion: UInt64) -> String {
    let id = "s\(nextNumber)"
    nextNumber += 1
    entries.append(Entry(id: id, metrics: metrics, seenVersion: seenVersion))
    return id
  }

  mutating func remove(_ id: String) -> Bool {
    guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
    entries.remove(at: index)
    return true
  }

  mutating func markSeen(_ index: Int, version: UInt64) {
    entries[index].seenVersion = version
  }
}
