import CSQLite
public import UsageCore

/// Changes brought in from other records of usage (LLM tools' logs), each under a key kept for good, so importing the
/// same entries again counts them once.
extension LedgerStore {
  /// The keys already imported that start with `prefix`.
  public func importedKeys(prefix: String) throws(LedgerError) -> Set<String> {
    let statement = try connection.prepare("SELECT key FROM imported WHERE key >= ? AND key < ?")
    // Keys starting with the prefix sort between it and the prefix followed by the largest character.
    try statement.bind([.text(prefix), .text(prefix + "\u{10FFFF}")])
    var keys: Set<String> = []
    while try statement.step() {
      if let key = statement.text(0) { keys.insert(key) }
    }
    return keys
  }

  /// Lets this connection keep up to `mebibytes` of the database's pages in memory. A large import touches more
  /// pages of the tables and indexes than the default cache (2 MiB) holds: it would read them again and again, and
  /// spill them to the write-ahead log before its transaction ends.
  public func enlargeCache(mebibytes: Int) throws(LedgerError) {
    try connection.execute("PRAGMA cache_size = -\(mebibytes * 1024)")
  }

  /// Writes `changes` (each with its key, at its own time) and keeps their keys as imported, in one transaction.
  /// Changes whose key was imported before are left out. Returns how many were written.
  @discardableResult
  public func importChanges(_ changes: [LedgerChange]) throws(LedgerError) -> Int {
    try begin()
    do throws(LedgerError) {
      let mark = try connection.prepare("INSERT OR IGNORE INTO imported (key, at_ms) VALUES (?, ?)")
      // Usually every change is new: the batch is then written as it is, without copying it.
      var stale: [Int] = []
      for (index, change) in changes.enumerated() {
        guard let key = change.key else {
          stale.append(index)
          continue
        }
        mark.start()
        try mark.bind(1, key)
        try mark.bind(2, change.at.milliseconds)
        try mark.runBound()
        if mark.changes == 0 { stale.append(index) }
      }
      let fresh: [LedgerChange]
      if stale.isEmpty {
        fresh = changes
      } else {
        var left = Set(stale)
        fresh = changes.indices.compactMap { left.remove($0) == nil ? changes[$0] : nil }
      }
      try writeChanges(fresh)
      try connection.execute("COMMIT")
      return fresh.count
    } catch {
      rollBack()
      throw error
    }
  }
}
