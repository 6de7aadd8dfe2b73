import Glibc
public import Ledger
public import RefreshScheduler
import Synchronization
public import UsageCore

/// The usage of one account held in PostgreSQL and shared by every device, behind the same transactional interface
/// as the local ledger, which it wraps as its offline store and cache.
///
/// A burst costs two round trips: ``begin(touching:keys:)`` opens the transaction, locks the account's row (every
/// device's transaction does, so each change is decided against the account's committed state), reads the touched
/// counters and the answers kept under the burst's idempotency keys; ``commit()`` sends the burst's changes and
/// answers to `usagectx.apply(…)`, which records them and notifies the account's channel, and commits. The local
/// ledger records the same changes (this device's history and breakdown) and keeps the last known totals.
///
/// When PostgreSQL cannot be reached, changes are decided against the last known totals plus the changes not yet
/// delivered, and committed to the local ledger with an outbox entry each (metric `postgres:…`); the next burst
/// after a successful reconnection (tried with the refresh backoff) delivers them first, in order, each once by its
/// key. A restart meanwhile starts from the kept totals plus the outbox.
public final class SharedLedger: UsageLedger {
  struct State: ~Copyable {
    var connection: PostgresConnection?
    var account: Int64 = 0
    /// The account's tier as the database holds it.
    var tier: String?
    /// Totals per metric: the account's last known committed totals, plus undelivered and uncommitted changes.
    var totals: [String: RunningTotals] = [:]
    /// The account's committed totals as last read or written (what the kept readings persist).
    var remote: [String: RunningTotals] = [:]
    /// Changes made while offline, not yet delivered (in the local outbox), and their sums per metric.
    var undelivered: [RecordedChange] = [] {
      didSet { undeliveredSums = undelivered.reduce(into: [:]) { $0[$1.metric, default: 0] &+= $1.delta } }
    }
    var undeliveredSums: [String: Int64] = [:]
    /// Changes recorded since the last commit.
    var pending: [RecordedChange] = []
    /// Answers kept under idempotency keys since the last commit.
    var answers: [KeptAnswer] = []
    /// Answers found in the database for the burst's keys.
    var prefetched: [String: KeptAnswer] = [:]
    /// The keys looked up for the burst (a key among them not found is unused).
    var prefetchedKeys: Set<String> = []
    /// Whether the open transaction is PostgreSQL's (else the burst is offline).
    var online = false
    var inTransaction = false
    /// Why PostgreSQL could not be reached or refused, while offline.
    var lastError: String?
    /// Consecutive failed connections, and when the next one may be tried (milliseconds since the epoch).
    var attempt = 0
    var nextAttempt: Int64 = 0
    /// Metrics whose committed totals another device moved, since ``absorbOthers(readAnyway:)`` last took them.
    var movedByOthers: Set<String> = []
    /// Numbers this session's bursts, for the keys usagectx makes (`usagectx:SESSION:BURST`).
    var burstNumber: Int64 = 0
  }

  let state: Mutex<State>
  /// The local ledger: offline store, this device's history, kept totals and outbox.
  public let local: DurableLedger
  private let url: String
  /// The account's name.
  public let account: String
  /// This device's name, written with each change.
  public let device: String
  /// This session's name, the payload of its notifications.
  public let session: String
  private let clock: any WallClock
  private let backoff: Backoff
  static let outboxPrefix = "postgres:"

  /// Whether an entry of the local outbox is a change waiting for PostgreSQL (the shared ledger delivers those; the
  /// outbox of exec plugins leaves them alone).
  public static func holds(_ entry: OutboxEntry) -> Bool { entry.metric.hasPrefix(outboxPrefix) }
  /// The local ledger's kept readings of the account's totals: `postgres:METRIC@DAY` (`-1` for all time).
  static let readingPrefix = "postgres:"

  /// Opens the account `account` at `url` over `local`; connects at once when it can (a failure leaves the ledger
  /// offline, answering from the kept totals).
  public init(
    local: DurableLedger, url: String, account: String, device: String, session: String,
    backoff: Backoff = Backoff(base: 1_000, cap: 30_000), clock: any WallClock = SystemWallClock()
  ) {
    self.local = local
    self.url = url
    self.account = account
    self.device = device
    self.session = session
    self.backoff = backoff
    self.clock = clock
    var initial = State()
    Self.restore(&initial, from: local)
    state = Mutex(initial)
    state.withLock { state in _ = connect(&state) }
  }

  /// The last known totals (kept readings `postgres:METRIC@DAY`) plus the changes still in the outbox.
  private static func restore(_ state: inout State, from local: DurableLedger) {
    for (name, reading) in local.lastReadings() where name.hasPrefix(readingPrefix) {
      let rest = name.dropFirst(readingPrefix.count)
      guard let at = rest.lastIndex(of: "@"), let day = Int64(rest[rest.index(after: at)...]) else { continue }
      let metric = String(rest[..<at])
      state.remote[metric, default: RunningTotals()].set(reading.value, day: day == -1 ? nil : day)
    }
    state.totals = state.remote
    do throws(LedgerError) {
      var undelivered: [RecordedChange] = []
      for entry in try local.waitingInOutbox() where entry.metric.hasPrefix(outboxPrefix) {
        let change = OutboxCoding.change(entry)
        undelivered.append(change)
        state.totals[change.metric, default: RunningTotals()].add(change.delta, on: RunningTotals.day(change.at))
      }
      state.undelivered = undelivered
    } catch {
      state.lastError = "the local outbox could not be read: \(error)"
    }
  }

  // MARK: - Connection

  /// Whether PostgreSQL was reachable at the last attempt.
  public var isOnline: Bool { state.withLock { $0.connection != nil } }
  /// Why the last attempt or statement failed, while offline.
  public var lastError: String? { state.withLock { $0.connection == nil ? $0.lastError : nil } }
  /// The account's tier in the database.
  public var tier: String? { state.withLock { $0.tier } }
  /// How many changes wait in the outbox for PostgreSQL.
  public var undeliveredCount: Int { state.withLock { $0.undelivered.count } }
  /// The connection's socket (notifications arrive there), `-1` while offline.
  public var socket: Int32 { state.withLock { $0.connection?.socket ?? -1 } }
  /// When the next reconnection is due (milliseconds since the epoch), while offline.
  public var nextAttempt: Int64? { state.withLock { $0.connection == nil ? $0.nextAttempt : nil } }

  /// Connects when offline and the backoff allows; returns whether connected.
  @discardableResult
  public func reconnectIfDue() -> Bool {
    state.withLock { state in
      guard state.connection == nil, !state.inTransaction else { return state.connection != nil }
      guard clock.now().milliseconds >= state.nextAttempt else { return false }
      return connect(&state)
    }
  }

  private func connect(_ state: inout State) -> Bool {
    do throws(PostgresError) {
      let connection = try PostgresConnection(url: url)
      try PostgresSchema.migrate(connection)
      let name = connection.literal(account)
      let rows = try connection.run(
        """
        INSERT INTO usagectx.accounts (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING;
        SELECT id, tier FROM usagectx.accounts WHERE name = \(name);
        """)
      guard let row = rows.last?.rows.first, let id = row[0].flatMap({ Int64($0) }) else {
        throw PostgresError("the account \(account) could not be created")
      }
      state.account = id
      state.tier = row[1]
      // Answers are kept 24 hours, like the local ledger's; the keys usagectx made (a burst's, a change delivered from
      // an outbox) 30 days, longer than any outbox waits in practice.
      let now = clock.now().milliseconds
      try connection.run(
        """
        LISTEN usagectx_\(id);
        DELETE FROM usagectx.keys WHERE account = \(id) AND (
          (answer IS NOT NULL AND at < \(now - KeptAnswer.retention)) OR (answer IS NULL AND at < \(now - 30 * 86_400_000)));
        """)
      state.connection = connection
      state.attempt = 0
      state.lastError = nil
      try fetch(&state, metrics: nil)
      return true
    } catch {
      goOffline(&state, error)
      return false
    }
  }

  func goOffline(_ state: inout State, _ error: PostgresError) {
    state.connection = nil
    state.online = false
    state.lastError = error.message
    var random = SystemRandomNumberGenerator()
    state.nextAttempt = clock.now().milliseconds + max(100, backoff.delay(attempt: state.attempt, using: &random))
    state.attempt += 1
  }

  /// Reads the account's counters (of `metrics`, or all) over the last month and all time, and sets the totals from
  /// them; metrics whose committed totals moved are noted for ``absorbOthers()``.
  func fetch(_ state: inout State, metrics: Set<String>?) throws(PostgresError) {
    guard let connection = state.connection else { return }
    let results = try connection.run(countersQuery(connection, account: state.account, metrics: metrics))
    take(&state, counters: results.last, metrics: metrics)
  }

  /// The statement reading the account's counters of `metrics` (all when `nil`) over the last month and all time.
  private func countersQuery(_ connection: PostgresConnection, account: Int64, metrics: Set<String>?) -> String {
    var filter = ""
    if let metrics {
      filter =
        metrics.isEmpty
        ? " AND false" : " AND metric IN (\(metrics.map { connection.literal($0) }.joined(separator: ",")))"
    }
    return "SELECT metric, day, used FROM usagectx.counters WHERE account = \(account) AND label = ''"
      + " AND (day = -1 OR day >= \(RunningTotals.day(clock.now()) - 32))\(filter)"
  }

  /// Sets the account's committed totals of `metrics` (all read, and all known, when `nil`) from the rows of
  /// ``countersQuery(_:account:metrics:)``; the totals shown add the changes not delivered or not committed yet.
  private func take(_ state: inout State, counters: PostgresRows?, metrics: Set<String>?) {
    var fetched: [String: RunningTotals] = [:]
    for row in counters?.rows ?? [] {
      guard let metric = row[0], let day = row[1].flatMap({ Int64($0) }), let used = row[2].flatMap({ Int64($0) })
      else { continue }
      fetched[metric, default: RunningTotals()].set(used, day: day == -1 ? nil : day)
    }
    for metric in metrics ?? Set(fetched.keys).union(state.remote.keys) {
      let now = fetched[metric] ?? RunningTotals()
      if state.remote[metric] ?? RunningTotals() != now { state.movedByOthers.insert(metric) }
      state.remote[metric] = now
      var total = now
      for change in state.undelivered where change.metric == metric {
        total.add(change.delta, on: RunningTotals.day(change.at))
      }
      for change in state.pending where change.metric == metric {
        total.add(change.delta, on: RunningTotals.day(change.at))
      }
      state.totals[metric] = total
    }
  }

  /// Keeps the account's totals of `metrics` in the local ledger (written with its next commit), so that a restart
  /// while PostgreSQL is away starts from them.
  func keepRemote(_ state: inout State, metrics: some Sequence<String>) {
    let now = clock.now()
    for metric in metrics {
      guard let totals = state.remote[metric] else { continue }
      local.keepReading(metric: "\(Self.readingPrefix)\(metric)@-1", value: totals.allTime, at: now)
      for (day, value) in totals.days {
        local.keepReading(metric: "\(Self.readingPrefix)\(metric)@\(day)", value: value, at: now)
      }
    }
  }

  // MARK: - UsageLedger

  public func record(_ change: RecordedChange) {
    state.withLock { state in
      state.pending.append(change)
      state.totals[change.metric, default: RunningTotals()].add(change.delta, on: RunningTotals.day(change.at))
    }
    local.record(change)
  }

  public func total(metric: String, since start: Timestamp?) -> Int64 {
    state.withLock { $0.totals[metric]?.total(fromDay: start.map(RunningTotals.day)) ?? 0 }
  }

  public func committed(metric: String, since start: Timestamp?, at time: Timestamp) -> CommittedTotal {
    state.withLock { state in
      (state.totals[metric] ?? RunningTotals()).committed(
        fromDay: start.map(RunningTotals.day), today: RunningTotals.day(time))
    }
  }

  public func baselines(metric: String, since start: Timestamp?) -> [BreakdownTotal] {
    local.baselines(metric: metric, since: start)
  }

  public func begin(touching metrics: Set<String>) throws(CommitError) {
    try begin(touching: metrics, keys: [])
  }

  public func begin(touching metrics: Set<String>, keys: [String]) throws(CommitError) {
    try local.begin(touching: metrics)
    state.withLock { state in
      state.inTransaction = true
      state.prefetched = [:]
      state.prefetchedKeys = []
      state.online = false
      if state.connection == nil, clock.now().milliseconds >= state.nextAttempt { _ = connect(&state) }
      guard let connection = state.connection else { return }
      var touched = metrics
      for change in state.undelivered { touched.insert(change.metric) }
      var prefix = "BEGIN; SELECT tier FROM usagectx.accounts WHERE id = \(state.account) FOR UPDATE;\n"
      if !keys.isEmpty {
        prefix +=
          "SELECT key, fingerprint, answer, at FROM usagectx.keys WHERE account = \(state.account)"
          + " AND at >= \(clock.now().milliseconds - KeptAnswer.retention) AND key IN ("
          + keys.map { connection.literal($0) }.joined(separator: ",") + ");\n"
      }
      do throws(PostgresError) {
        // One round trip: the lock, the keys and the counters.
        let results = try connection.run(prefix + countersQuery(connection, account: state.account, metrics: touched))
        if let tier = results.first?.rows.first?[0] { state.tier = tier }
        if !keys.isEmpty, results.count >= 3 {
          for row in results[1].rows {
            // A key delivered from an outbox without its answer is used all the same: its fingerprint ('') matches no
            // request, so a repeat is refused rather than counted twice.
            guard let key = row[0], let fingerprint = row[1], let at = row[3].flatMap({ Int64($0) }) else { continue }
            state.prefetched[key] = KeptAnswer(
              key: key, fingerprint: fingerprint, answer: Array((row[2] ?? "null").utf8), at: at)
          }
        }
        take(&state, counters: results.last, metrics: touched)
        state.prefetchedKeys = Set(keys)
        state.online = true
      } catch {
        goOffline(&state, error)
      }
    }
  }

  public func commit() throws(CommitError) {
    try state.withLock { (state: inout State) throws(CommitError) in
      defer {
        state.inTransaction = false
        state.online = false
        state.prefetched = [:]
        state.prefetchedKeys = []
      }
      if !state.inTransaction, let connection = state.connection,
        !state.pending.isEmpty || !state.undelivered.isEmpty
      {
        // Changes recorded outside a burst's transaction (answered before the commit): one is opened now.
        do throws(PostgresError) {
          try connection.run("BEGIN; SELECT tier FROM usagectx.accounts WHERE id = \(state.account) FOR UPDATE")
          state.online = true
        } catch {
          goOffline(&state, error)
        }
      }
      if state.online, let connection = state.connection {
        do throws(PostgresError) {
          try commitOnline(&state, connection: connection)
        } catch {
          if error.state != nil, connection.isUp {
            // PostgreSQL refused the burst: nothing of it happened.
            _ = try? connection.run("ROLLBACK")  // harmless: a failed transaction is rolled back by the next BEGIN too
            takeBack(&state)
            local.rollBack()
            throw CommitError("PostgreSQL refused the changes: \(error.message)")
          }
          // The connection went away: the commit may or may not have happened. The burst goes to the outbox with
          // its keys; delivering it again is applied only if it was not.
          goOffline(&state, error)
          try commitOffline(&state, burstKey: burstKey(state))
        }
      } else {
        try commitOffline(&state, burstKey: nil)
      }
    }
  }

  private func burstKey(_ state: borrowing State) -> String {
    "usagectx:\(session):\(state.burstNumber)"
  }

  private func commitOnline(_ state: inout State, connection: PostgresConnection) throws(PostgresError) {
    state.burstNumber += 1
    let replayed = state.undelivered
    var outboxIDs: [Int64] = []
    if !replayed.isEmpty {
      do throws(LedgerError) {
        outboxIDs = try local.waitingInOutbox().filter { $0.metric.hasPrefix(Self.outboxPrefix) }.map(\.id)
      } catch {
        throw PostgresError("the local outbox could not be read: \(error)")
      }
    }
    var answers = state.answers
    for change in replayed {
      guard let key = change.key, !OutboxCoding.isMade(key) else { continue }
      // Without it the key is kept without its answer.
      if let kept = try? local.keptAnswer(key) { answers.append(kept) }  // harmless: the key still counts as used
    }
    let changes = OutboxCoding.json(replayed: replayed, burst: state.pending)
    let answerText = OutboxCoding.json(answers: answers)
    let results = try connection.run(
      "SELECT usagectx.apply(\(state.account), \(connection.literal(device + " " + session)), "
        + "\(connection.literal(changes))::jsonb, \(connection.literal(answerText))::jsonb, "
        + "\(connection.literal(burstKey(state)))); COMMIT")
    // Replayed changes another delivery already applied are not counted again.
    let skipped = OutboxCoding.skipped(results.first?.rows.first?[0] ?? nil)
    var touched = Set(state.pending.map(\.metric))
    for (position, change) in replayed.enumerated() {
      touched.insert(change.metric)
      if !skipped.contains(position) {
        state.remote[change.metric, default: RunningTotals()].add(change.delta, on: RunningTotals.day(change.at))
      } else {
        state.totals[change.metric, default: RunningTotals()].add(0 &- change.delta, on: RunningTotals.day(change.at))
      }
    }
    for change in state.pending {
      state.remote[change.metric, default: RunningTotals()].add(change.delta, on: RunningTotals.day(change.at))
    }
    state.undelivered = []
    state.pending = []
    state.answers = []
    for id in outboxIDs { local.delivered(id) }
    keepRemote(&state, metrics: touched)
    do throws(CommitError) {
      try local.commit()
    } catch {
      // PostgreSQL holds the changes; the local copy (history, readings) missed this burst.
      state.lastError = "local ledger: \(error)"
    }
  }

  private func commitOffline(_ state: inout State, burstKey: String?) throws(CommitError) {
    state.burstNumber += 1
    let offlineKey = burstKey ?? "usagectx:\(session):\(state.burstNumber):offline"
    for (position, change) in state.pending.enumerated() {
      local.post(OutboxCoding.entry(change, key: change.key ?? "\(offlineKey):\(position)"))
    }
    do throws(CommitError) {
      try local.commit()
    } catch {
      takeBack(&state)
      throw error
    }
    state.undelivered += state.pending.enumerated().map { position, change in
      var kept = change
      if kept.key == nil { kept.key = "\(offlineKey):\(position)" }
      return kept
    }
    state.pending = []
    state.answers = []
  }

  private func takeBack(_ state: inout State) {
    for change in state.pending {
      state.totals[change.metric, default: RunningTotals()].add(0 &- change.delta, on: RunningTotals.day(change.at))
    }
    state.pending = []
    state.answers = []
  }

  public func keptAnswer(_ key: String) throws(CommitError) -> KeptAnswer? {
    let found: KeptAnswer?? = state.withLock { state in
      if let waiting = state.answers.last(where: { $0.key == key }) { return .some(waiting) }
      if state.online, state.prefetchedKeys.contains(key), let kept = state.prefetched[key] { return .some(kept) }
      return nil
    }
    if let found { return found }
    return try local.keptAnswer(key)
  }

  public func keep(_ answer: KeptAnswer) {
    state.withLock { $0.answers.append(answer) }
    local.keep(answer)
  }

  public func setBaseline(metric: String, label: String, since start: Timestamp?) {
    local.setBaseline(metric: metric, label: label, since: start)
  }

  public func keepReading(metric: String, value: Int64, at time: Timestamp) {
    local.keepReading(metric: metric, value: value, at: time)
  }

  public func lastReadings() -> [String: (value: Int64, at: Timestamp)] {
    local.lastReadings().filter { !$0.key.hasPrefix(Self.readingPrefix) }
  }

  public func read(metric: String, since start: Timestamp?) throws(AuthorityError) -> Int64 {
    try state.withLock { (state: inout State) throws(AuthorityError) -> Int64 in
      guard state.connection != nil else {
        throw AuthorityError(state.lastError ?? "PostgreSQL cannot be reached")
      }
      return state.totals[metric]?.total(fromDay: start.map(RunningTotals.day)) ?? 0
    }
  }

  public var authorityName: String { "postgres" }

  public func unconfirmed(metric: String) -> Int64 {
    state.withLock { $0.undeliveredSums[metric] ?? 0 }
  }

  public var answeringAuthority: String? {
    state.withLock { state in
      (state.inTransaction ? state.online : state.connection != nil) ? "postgres" : "offline"
    }
  }
}
