/// One key's triggers, fetch and sync state: the per-key half of ``RefreshScheduler``, which owns the session's
/// focus and connectivity and passes them in.
///
/// Each pending trigger is the instant it falls due. A fetch in flight blocks all of them (single flight); when a
/// fetch starts it consumes every trigger already due, so triggers that pile up share one fetch.
struct KeySchedule {
  var policy: RefreshPolicy
  /// When the key was added (the origin of the periodic refresh until a fetch completes).
  let addedAt: SchedulerInstant

  // MARK: Pending triggers

  var initialAt: SchedulerInstant?
  var manualAt: SchedulerInstant?
  var focusAt: SchedulerInstant?
  var reconnectAt: SchedulerInstant?
  /// The debounce deadline of the current burst of mutations.
  var mutationAt: SchedulerInstant?
  /// The first mutation of the current burst (for ``RefreshPolicy/mutationMaxWait``).
  var burstStartedAt: SchedulerInstant?
  /// When the backoff after the last failure ends; set exactly while the key is backing off.
  var retryAt: SchedulerInstant?
  /// The source's retry-after: no fetch at all before it. Cleared by a success.
  var notBefore: SchedulerInstant?

  // MARK: Fetch and sync state

  /// The reason of the fetch in flight.
  var inFlight: RefreshReason?
  var lastCompletedAt: SchedulerInstant?
  var lastSyncedAt: SchedulerInstant?
  /// When the last fetch that consumed a focus trigger started (the focus throttle).
  var lastFocusFetchAt: SchedulerInstant?
  var attempt = 0
  var error: String?
  /// Waiters answered when the fetch in flight completes.
  var waiting: Set<WaiterID> = []
  /// Waiters of the manual fetch that starts next.
  var queued: Set<WaiterID> = []

  init(policy: RefreshPolicy, now: SchedulerInstant) {
    self.policy = policy
    addedAt = now
    initialAt = now
  }

  /// Whether the last fetch succeeded less than the dedupe window ago and nothing changed locally since (a local
  /// change waiting for its refresh makes the data worth fetching again at once).
  func isFresh(at now: SchedulerInstant) -> Bool {
    guard mutationAt == nil, let synced = lastSyncedAt, synced == lastCompletedAt else { return false }
    return now - synced < policy.dedupeWindow
  }

  /// Whether a "the data may be stale" trigger (focus, reconnect) has anything to do: no fetch in flight (its
  /// result will do, and a failure brings a retry), no backoff (the retry will come), nothing fresh.
  func wantsFreshData(at now: SchedulerInstant) -> Bool {
    inFlight == nil && retryAt == nil && !isFresh(at: now)
  }

  // MARK: Due triggers

  /// Calls `body` with every trigger that will fire, and when, given the client's state. A manual fetch fires
  /// whatever the state; while backing off only the retry fires (the other triggers join it); the retry-after
  /// hint holds back everything automatic.
  func forEachDue(online: Bool, visible: Bool, _ body: (RefreshReason, SchedulerInstant) -> Void) {
    if let manualAt { body(.manual, manualAt) }
    guard online || policy.refreshWhileOffline else { return }
    func held(_ instant: SchedulerInstant) -> SchedulerInstant { notBefore.map { max($0, instant) } ?? instant }
    if let retryAt {
      body(.retry, held(retryAt))
      return
    }
    if let initialAt { body(.initial, held(initialAt)) }
    if let reconnectAt { body(.reconnect, held(reconnectAt)) }
    if let mutationAt { body(.mutation, held(mutationAt)) }
    if let focusAt { body(.focus, held(focusAt)) }
    if inFlight == nil, visible || policy.refreshWhileHidden, let interval = policy.interval {
      body(.periodic, held((lastCompletedAt ?? addedAt) + interval))
    }
  }

  /// The earliest instant a trigger fires.
  func nextDue(online: Bool, visible: Bool) -> SchedulerInstant? {
    var earliest: SchedulerInstant?
    forEachDue(online: online, visible: visible) { _, at in earliest = min(earliest ?? at, at) }
    return earliest
  }

  /// The reason of the fetch to start at `now`, if one is due and none is in flight.
  func dueReason(at now: SchedulerInstant, online: Bool, visible: Bool) -> RefreshReason? {
    guard inFlight == nil else { return nil }
    var best: RefreshReason?
    forEachDue(online: online, visible: visible) { reason, at in
      if at <= now, reason.precedence > best?.precedence ?? -1 { best = reason }
    }
    return best
  }

  // MARK: Transitions

  /// Starts a fetch: it consumes every trigger due by `now` (and the backoff: a manual fetch replaces the retry).
  mutating func start(_ reason: RefreshReason, at now: SchedulerInstant) {
    if focusAt != nil { lastFocusFetchAt = now }
    initialAt = nil
    manualAt = nil
    focusAt = nil
    reconnectAt = nil
    retryAt = nil
    if let due = mutationAt, due <= now {
      mutationAt = nil
      burstStartedAt = nil
    }
    inFlight = reason
    waiting.formUnion(queued)
    queued = []
  }

  /// Records a successful fetch: the backoff, the error and the retry-after hint are forgotten.
  mutating func succeed(at now: SchedulerInstant) {
    inFlight = nil
    lastCompletedAt = now
    lastSyncedAt = now
    attempt = 0
    error = nil
    retryAt = nil
    notBefore = nil
  }

  /// Records a failed fetch and schedules the retry.
  mutating func fail(
    _ message: String, retryAfter: Milliseconds?, at now: SchedulerInstant,
    using generator: inout some RandomNumberGenerator
  ) {
    let hint = retryAfter.flatMap { $0 > 0 ? $0 : nil }
    inFlight = nil
    lastCompletedAt = now
    error = message
    let delay = policy.backoff.delay(attempt: attempt, retryAfter: hint, using: &generator)
    attempt += 1
    retryAt = now + delay
    notBefore = hint.map { now + $0 }
  }

  /// The client regained focus after `away` milliseconds.
  mutating func focusReturned(after away: Milliseconds, at now: SchedulerInstant, online: Bool) {
    guard policy.refreshOnFocus, online || policy.refreshWhileOffline, away >= policy.minimumUnfocused,
      wantsFreshData(at: now)
    else { return }
    if let last = lastFocusFetchAt, now - last < policy.focusThrottle { return }
    if focusAt == nil { focusAt = now }
  }

  /// The client came back online.
  mutating func reconnected(at now: SchedulerInstant) {
    guard !policy.refreshWhileOffline, wantsFreshData(at: now), reconnectAt == nil else { return }
    reconnectAt = now
  }

  /// A mutation: the refresh moves to one debounce after it (but not past the burst's maximum wait).
  mutating func mutated(at now: SchedulerInstant) {
    if mutationAt == nil { burstStartedAt = now }
    var due = now + policy.mutationDebounce
    if let maxWait = policy.mutationMaxWait, let start = burstStartedAt { due = min(due, start + maxWait) }
    mutationAt = due
  }

  /// How a manual refresh for `waiter` is served.
  mutating func request(force: Bool, waiter: WaiterID, at now: SchedulerInstant) -> RefreshRequest {
    if inFlight != nil {
      waiting.insert(waiter)
      return .pending
    }
    if manualAt != nil {
      queued.insert(waiter)
      return .pending
    }
    if let notBefore, now < notBefore { return .deferred(until: notBefore) }
    if !force && isFresh(at: now) { return .reused }
    manualAt = now
    queued.insert(waiter)
    return .pending
  }

  /// Forgets the error and the backoff; the periodic refresh resumes. The source's retry-after still holds.
  mutating func resetError() {
    error = nil
    attempt = 0
    retryAt = nil
  }

  /// The state a client sees at `now` (an overdue trigger is due `now`).
  func syncState(at now: SchedulerInstant, online: Bool, visible: Bool) -> SyncState {
    SyncState(
      state: inFlight != nil ? .loading : error != nil ? .error : .idle, lastSyncedAt: lastSyncedAt,
      nextRefreshAt: nextDue(online: online, visible: visible).map { max($0, now) }, attempt: attempt, error: error)
  }
}
