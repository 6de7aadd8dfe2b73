/// The MCP client's resource subscriptions: which metrics each subscribed URI covers and how far it has been told.
/// Subscribing twice to one URI keeps one subscription.
struct MCPResourceSubscriptions {
  struct Entry {
    let uri: String
    /// Metric indices covered; `nil` for all (`usage://metrics`).
    let metrics: [Int]?
    /// The context version this subscription has been told about.
    var seenVersion: UInt64
  }

  private(set) var entries: [Entry] = []

  var isEmpty: Bool { entries.isEmpty }

  mutating func add(uri: String, metrics: [Int]?, seenVersion: UInt64) {
    guard !entries.contains(where: { $0.uri == uri }) else { return }
    entries.append(Entry(uri: uri, metrics: metrics, seenVersion: seenVersion))
  }

  mutating func remove(uri: String) {
    entries.removeAll { $0.uri == uri }
  }

  mutating func markSeen(_ index: Int, version: UInt64) {
    entries[index].seenVersion = version
  }
}
