import Dispatch
import Synchronization
public import RefreshScheduler
public import UsageCore

/// Keeps the session's metrics in step with their authorities.
///
/// Owns the session's ``RefreshScheduler`` (one key per metric): it tells the scheduler what happened (mutations,
/// the client's focus and connectivity, manual refreshes), starts the reads the scheduler asks for off the loop thread,
/// and judges each reading through the context's reconciliation when it comes back through the loop's job queue.
/// What a client should hear (drift, threshold crossings, sync state, finished manual refreshes) goes to ``events``.
///
/// - Important: Owned by the session's loop thread, like the scheduler; reads run elsewhere and only their results
///   come back, through `post`.
public final class Synchronizer {
  /// Something the client may want to hear.
  public enum Event {
    /// The authority disagreed with the expected number and won.
    case drift(Drift)
    /// A reading raised a metric's level.
    case crossing(ThresholdCrossing)
    /// A metric's sync state changed in a way worth telling (see ``publish()``).
    case syncState(metric: Int, SyncStatus)
    /// Every metric a manual refresh waited for has been read (or failed): answer it.
    case refreshed(WaiterID)
  }

  /// Runs a read somewhere other than the loop thread.
  public typealias Runner = @Sendable (@escaping @Sendable () -> Void) -> Void
  /// Hands work back to the loop thread.
  public typealias Poster = @Sendable (@escaping @Sendable () -> Void) -> Void

  public let context: UsageContext
  public let scheduler: RefreshScheduler<Int>
  private let clock: any SchedulerClock
  private let run: Runner
  private let post: Poster
  /// Told of everything a client may want to hear.
  public var events: (Event) -> Void = { _ in }
  /// Logs a failed read: metric, source, message.
  public var onReadFailure: (String, String, String) -> Void = { _, _, _ in }
  private var nextWaiter: UInt64 = 0
  /// The waiter of the synchronizer's own re-reads (callers' waiters start at 1).
  private static let internalWaiter = WaiterID(0)
  /// Metrics whose last reading was stale and that were read again at once.
  private var rereadAtOnce: Set<Int> = []
  /// The sync state last told for each metric, in the scheduler's time.
  private var told: [SyncState?]
  /// The sync state last stored in the context for each metric.
  private var stored: [SyncState?]
  /// Metrics changed since the scheduler was last told.
  private var changed: [Bool]
  private var anyChanged = false

  /// A synchronizer for every metric of `context`, refreshed by `policies` (one per metric; the default policy for
  /// those missing), reading the time from `clock`, running reads with `run` (by default on Dispatch's global queue)
  /// and returning to the loop with `post`.
  public init(
    context: UsageContext, policies: [RefreshPolicy], clock: any SchedulerClock,
    random: some RandomNumberGenerator = SystemRandomNumberGenerator(),
    run: Runner? = nil, post: @escaping Poster
  ) {
    self.context = context
    self.clock = clock
    self.run = run ?? { work in DispatchQueue.global().async(execute: work) }
    self.post = post
    scheduler = RefreshScheduler(clock: clock, random: random)
    told = Array(repeating: nil, count: context.metricNames.count)
    stored = told
    changed = Array(repeating: false, count: context.metricNames.count)
    for index in context.metricNames.indices {
      scheduler.add(index, policy: index < policies.count ? policies[index] : RefreshPolicy())
    }
  }

  /// Replaces the metrics' policies (a configuration change); their triggers and state stay.
  public func setPolicies(_ policies: [RefreshPolicy]) {
    for index in context.metricNames.indices where index < policies.count {
      scheduler.add(index, policy: policies[index])
    }
  }

  // MARK: - What happened

  /// The metric changed locally: a refresh follows after the debounce. Changes are handed to the scheduler once per
  /// burst (the debounce counts from the burst's end), so the hot path only sets a flag.
  public func mutated(_ metric: Int) {
    if !changed[metric] {
      changed[metric] = true
      anyChanged = true
    }
  }

  /// Tells the scheduler of the changes since the last call.
  private func flushChanges() {
    guard anyChanged else { return }
    anyChanged = false
    for metric in changed.indices where changed[metric] {
      changed[metric] = false
      scheduler.mutated(metric)
    }
  }

  /// The client gained or lost focus.
  public func clientFocused(_ focused: Bool) {
    flushChanges()
    scheduler.clientFocused(focused)
  }

  /// The client went offline or came back.
  public func clientOnline(_ online: Bool) {
    flushChanges()
    scheduler.clientOnline(online)
  }

  /// A manual refresh of `metrics` (all when `nil`). Returns the waiter to answer when ``Event/refreshed(_:)`` names
  /// it, or `nil` when it can be answered now (every metric was fresh enough, or waits for a retry-after).
  public func requestRefresh(_ metrics: [Int]?, force: Bool) -> WaiterID? {
    flushChanges()
    nextWaiter += 1
    let waiter = WaiterID(nextWaiter)
    let answers = scheduler.requestRefresh(metrics ?? Array(context.metricNames.indices), force: force, waiter: waiter)
    return answers.values.contains(.pending) ? waiter : nil
  }

  /// The caller of a manual refresh stopped waiting; the reads go on.
  public func cancel(_ waiter: WaiterID) { scheduler.cancel(waiter: waiter) }

  /// Forgets the metrics' errors and backoff (`usage/resetError`).
  public func resetErrors(_ metrics: [Int]?) {
    for metric in metrics ?? Array(context.metricNames.indices) { scheduler.resetError(metric) }
  }

  // MARK: - Reads

  /// Starts the reads that are due, then tells what changed. Call after anything happened (a burst, the timer, a
  /// result).
  public func pump() {
    flushChanges()
    for fetch in scheduler.dueFetches() { start(fetch.key) }
    publish()
  }

  /// Reads every metric now, waiting for all the reads (in parallel) before returning: the session starts from what
  /// the authorities say, and a new configuration from what its sources say. Ordinary refreshes follow the scheduler
  /// from then on. `force` reads even metrics read moments ago (a read in flight is not repeated).
  public func readAllNow(force: Bool = false) {
    readNow(force ? Array(context.metricNames.indices) : [])
  }

  /// After a configuration change: metrics with a local source are read now (the answer shows what they say), those
  /// held by another process soon after, without waiting (an acknowledgement still on its way could otherwise meet
  /// a reading taken out of turn).
  public func readAfterReconfiguration() {
    let metrics = Array(context.metricNames.indices)
    let remote = metrics.filter { context.authority(ofMetric: $0)?.isRemote ?? false }
    readNow(metrics.filter { !remote.contains($0) })
    if !remote.isEmpty { _ = scheduler.requestRefresh(remote, force: true, waiter: Self.internalWaiter) }
  }

  /// Reads `metrics` now (even ones read moments ago), with whatever else is due, waiting for the reads.
  public func readNow(_ metrics: [Int]) {
    flushChanges()
    if !metrics.isEmpty {
      _ = scheduler.requestRefresh(metrics, force: true, waiter: Self.internalWaiter)
    }
    let fetches = scheduler.dueFetches()
    let reads = fetches.map { fetch in
      (fetch.key, context.beginRead(metric: fetch.key), context.authority(ofMetric: fetch.key))
    }
    let results = ReadResults(count: reads.count)
    DispatchQueue.concurrentPerform(iterations: reads.count) { position in
      let authority = reads[position].2
      results.set(position, Self.read(authority))
    }
    for (position, read) in reads.enumerated() {
      finish(read.1, source: read.2?.name ?? "no source", results.get(position))
    }
    publish()
  }

  /// When the next read is due (scheduler time), if any is scheduled.
  public func nextDeadline() -> SchedulerInstant? {
    flushChanges()
    return scheduler.nextDeadline()
  }

  private func start(_ metric: Int) {
    let ticket = context.beginRead(metric: metric)
    let authority = context.authority(ofMetric: metric)
    let result = LoopBound(self)
    let post = self.post
    run {
      let outcome = Self.read(authority)
      post { result.value?.finish(ticket, source: authority?.name ?? "no source", outcome) }
    }
  }

  private static func read(_ authority: (any Authority)?) -> Result<Int64, AuthorityError> {
    guard let authority else { return .failure(AuthorityError("the metric has no source")) }
    do {
      return .success(try authority.read())
    } catch {
      return .failure(error)
    }
  }

  /// A read came back (on the loop thread).
  private func finish(_ ticket: ReadTicket, source: String, _ outcome: Result<Int64, AuthorityError>) {
    let metric = ticket.metric
    let done: [WaiterID]
    var stale = false
    switch outcome {
    case .success(let value):
      switch context.acceptReading(ticket, value: value) {
      case .accepted(let result, let drift):
        if let drift { events(.drift(drift)) }
        if let crossing = result.crossing { events(.crossing(crossing)) }
      case .stale:
        stale = true
      }
      done = scheduler.fetchSucceeded(metric)
      if stale {
        // A change was settled while the read ran, so the reading may miss it: the numbers stay. Read again at once,
        // but only once in a row; after that, after the debounce (a steady stream of changes cannot keep the source
        // busy).
        if rereadAtOnce.insert(metric).inserted {
          _ = scheduler.requestRefresh([metric], force: true, waiter: Self.internalWaiter)
        } else {
          scheduler.mutated(metric)
        }
      } else {
        rereadAtOnce.remove(metric)
      }
    case .failure(let error):
      // Sources that name themselves in their messages are not named twice.
      let message = error.message.hasPrefix(source) ? error.message : "\(source): \(error.message)"
      onReadFailure(context.metricNames[metric], source, error.message)
      context.setError(metric: metric, message)
      done = scheduler.fetchFailed(metric, error: message, retryAfter: error.retryAfterMilliseconds)
    }
    // The answers show the sync state as it is now.
    publish()
    for waiter in done where waiter != Self.internalWaiter { events(.refreshed(waiter)) }
    pump()
  }

  // MARK: - Sync state

  /// Stores every metric's sync state in the context and tells those that changed in a way worth telling: anything
  /// but the next refresh moving later (a burst of mutations pushes the debounce on at every message).
  public func publish() {
    flushChanges()
    let now = clock.now()
    let wallNow = context.now()
    for metric in context.metricNames.indices {
      guard let state = scheduler.syncState(metric), state != stored[metric] else { continue }
      stored[metric] = state
      let status = Self.status(state, now: now, wallNow: wallNow)
      context.setSync(metric: metric, status)
      if Self.worthTelling(state, after: told[metric]) {
        told[metric] = state
        events(.syncState(metric: metric, status))
      }
    }
  }

  private static func worthTelling(_ state: SyncState, after previous: SyncState?) -> Bool {
    guard let previous else { return true }
    if state.state != previous.state || state.attempt != previous.attempt || state.error != previous.error
      || state.lastSyncedAt != previous.lastSyncedAt
    {
      return true
    }
    switch (state.nextRefreshAt, previous.nextRefreshAt) {
    case (nil, nil): return false
    case (let next?, let before?): return next < before
    default: return true
    }
  }

  /// `state` in wall-clock time.
  private static func status(_ state: SyncState, now: SchedulerInstant, wallNow: Timestamp) -> SyncStatus {
    func wall(_ instant: SchedulerInstant?) -> Timestamp? {
      instant.map { Timestamp(milliseconds: wallNow.milliseconds.addingReportingOverflow($0 - now).partialValue) }
    }
    let phase: SyncStatus.Phase =
      switch state.state {
      case .idle: .idle
      case .loading: .loading
      case .error: .error
      }
    return SyncStatus(
      state: phase, lastSyncedAt: wall(state.lastSyncedAt), nextRefreshAt: wall(state.nextRefreshAt),
      attempt: state.attempt, error: state.error)
  }
}

/// The results of the reads run in parallel at start-up, one slot per read.
private final class ReadResults: Sendable {
  private let slots: Mutex<[Result<Int64, AuthorityError>?]>

  init(count: Int) { slots = Mutex(Array(repeating: nil, count: count)) }

  func set(_ position: Int, _ result: Result<Int64, AuthorityError>) {
    slots.withLock { $0[position] = result }
  }

  func get(_ position: Int) -> Result<Int64, AuthorityError> {
    slots.withLock { $0[position] } ?? .failure(AuthorityError("was not read"))
  }
}
