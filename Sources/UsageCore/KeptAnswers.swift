/// Answers kept under idempotency keys in memory: for ``KeptAnswer/retention`` and at most ``capacity`` of them,
/// oldest first out. The ledger in memory keeps its answers here; the durable ledger keeps them in its database.
public struct KeptAnswers: Sendable {
  /// The most answers kept at once.
  public static let capacity = 100_000

  private var entries: [String: KeptAnswer] = [:]
  private var order: [(key: String, at: Int64)] = []
  private var head = 0

  public init() {}

  /// The answer kept under `key`, if it is still kept at `now` (milliseconds since the epoch).
  public mutating func answer(for key: String, now: Int64) -> KeptAnswer? {
    expire(now: now)
    return entries[key]
  }

  /// Keeps `answer` (replacing one under the same key).
  public mutating func keep(_ answer: KeptAnswer) {
    expire(now: answer.at)
    if entries.updateValue(answer, forKey: answer.key) == nil { order.append((answer.key, answer.at)) }
    while entries.count > Self.capacity, head < order.count {
      entries.removeValue(forKey: order[head].key)
      head += 1
    }
    compact()
  }

  private mutating func expire(now: Int64) {
    while head < order.count, now - order[head].at > KeptAnswer.retention {
      entries.removeValue(forKey: order[head].key)
      head += 1
    }
    compact()
  }

  private mutating func compact() {
    if head > 1024 && head * 2 > order.count {
      order.removeFirst(head)
      head = 0
    }
  }
}
