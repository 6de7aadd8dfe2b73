/// Decides when each key is refreshed from its source: periodically, on focus, on reconnect, after mutations, on
/// request, and again after failures, with one fetch at a time per key.
///
/// A plain synchronous state machine: it never sleeps, starts tasks or fetches anything. Its owner tells it what
/// happened (client focus and connectivity, mutations, manual requests, fetch results), asks ``dueFetches()`` which
/// fetches to start now, and sleeps until ``nextDeadline()``. Keys are opaque; the scheduler knows nothing of what
/// they name or of JSON-RPC. The client starts out focused and online.
///
/// - Important: Owned by one thread (the session's loop); it is deliberately not `Sendable`. A class, so the
///   one state of a session is never copied by accident.
public final class RefreshScheduler<Key: Hashable> {
  /// A fetch to start now, and why.
  public struct Fetch: Equatable {
    public var key: Key
    public var reason: RefreshReason

    public init(key: Key, reason: RefreshReason) {
      self.key = key
      self.reason = reason
    }
  }

  private let clock: any SchedulerClock
  private var random: any RandomNumberGenerator
  /// Keys in the order they were added: every answer lists keys in this order.
  public private(set) var keys: [Key] = []
  private var slots: [Key: Int] = [:]
  private var schedules: [KeySchedule] = []
  /// For each waiting caller, the keys whose fetch it still waits for.
  private var waiters: [WaiterID: Set<Key>] = [:]
  /// Whether the client is focused (visible); `false` means hidden.
  public private(set) var isFocused = true
  /// Whether the client is online.
  public private(set) var isOnline = true
  /// Since when the client is unfocused.
  private var unfocusedSince: SchedulerInstant?

  /// A scheduler reading `clock` and drawing retry jitter from `random` (tests pass a seeded generator).
  public init(clock: any SchedulerClock, random: some RandomNumberGenerator = SystemRandomNumberGenerator()) {
    self.clock = clock
    self.random = random
  }

  // MARK: - Keys

  /// Adds `key`, whose first fetch (`.initial`) is due at once; for a key already present, only replaces the
  /// policy.
  public func add(_ key: Key, policy: RefreshPolicy = RefreshPolicy()) {
    if let slot = slots[key] {
      schedules[slot].policy = policy
      return
    }
    slots[key] = keys.count
    keys.append(key)
    schedules.append(KeySchedule(policy: policy, now: clock.now()))
  }

  /// Removes `key`. Returns the waiters that no longer wait for anything (answer them now). A result of its fetch
  /// in flight reported later is ignored, unless the key was added back and is fetching again (results are matched
  /// by key only, so the owner drops results of removed keys).
  public func remove(_ key: Key) -> [WaiterID] {
    guard let slot = slots[key] else { return [] }
    let schedule = schedules.remove(at: slot)
    keys.remove(at: slot)
    slots = Dictionary(uniqueKeysWithValues: keys.enumerated().map { ($1, $0) })
    return release(key, schedule.waiting.union(schedule.queued))
  }

  /// The policy of `key`.
  public func policy(of key: Key) -> RefreshPolicy? { slots[key].map { schedules[$0].policy } }

  // MARK: - Events

  /// The client gained (`true`) or lost (`false`, hidden) focus. Regaining it triggers a fetch of each key whose
  /// policy allows it, if the client was unfocused at least `minimumUnfocused`, no focus-triggered fetch started
  /// within `focusThrottle`, and the key is neither fetching, backing off nor fresh. Repeats change nothing.
  public func clientFocused(_ focused: Bool) {
    let now = clock.now()
    guard focused != isFocused else { return }
    isFocused = focused
    guard focused else {
      unfocusedSince = now
      return
    }
    let away = now - (unfocusedSince ?? now)
    unfocusedSince = nil
    for slot in schedules.indices { schedules[slot].focusReturned(after: away, at: now, online: isOnline) }
  }

  /// The client went offline (`false`: no automatic fetch, no retry) or came back online (`true`: one fetch per
  /// key, unless one is in flight, a retry is pending or the last success is fresh). Repeats change nothing.
  public func clientOnline(_ online: Bool) {
    guard online != isOnline else { return }
    isOnline = online
    guard online else { return }
    let now = clock.now()
    for slot in schedules.indices { schedules[slot].reconnected(at: now) }
  }

  /// `key` changed locally: a refresh follows one debounce after the last mutation of the burst (after the fetch
  /// in flight, if it is still running then).
  public func mutated(_ key: Key) {
    guard let slot = slots[key] else { return }
    schedules[slot].mutated(at: clock.now())
  }

  // MARK: - Manual refresh

  /// A manual refresh of `keys` on behalf of `waiter`. Each key is either answered at once (`.reused`,
  /// `.deferred`) or the waiter waits for its fetch (`.pending`): it joins the fetch in flight (even when forced:
  /// single flight) or one that starts at the next ``dueFetches()``, even while backing off or offline (a manual
  /// refresh bypasses the backoff, not a retry-after hint). Unknown keys are left out of the answer. The waiter is returned by
  /// ``fetchSucceeded(_:)`` or ``fetchFailed(_:error:retryAfter:)`` once all its pending keys completed.
  public func requestRefresh(
    _ keys: some Sequence<Key>, force: Bool = false, waiter: WaiterID
  ) -> [Key: RefreshRequest] {
    let now = clock.now()
    var answers: [Key: RefreshRequest] = [:]
    for key in keys where answers[key] == nil {
      guard let slot = slots[key] else { continue }
      let answer = schedules[slot].request(force: force, waiter: waiter, at: now)
      answers[key] = answer
      if answer == .pending { waiters[waiter, default: []].insert(key) }
    }
    return answers
  }

  /// `waiter` stops waiting (`$/cancelRequest`); the fetches it waited for go on, even one not started yet.
  /// Returns whether it was waiting.
  @discardableResult
  public func cancel(waiter: WaiterID) -> Bool {
    guard let keys = waiters.removeValue(forKey: waiter) else { return false }
    for key in keys {
      guard let slot = slots[key] else { continue }
      schedules[slot].waiting.remove(waiter)
      schedules[slot].queued.remove(waiter)
    }
    return true
  }

  // MARK: - Fetches

  /// The fetches to start now, marked in flight: none of their keys is returned again until its fetch completes.
  /// Every trigger of a key already due is consumed by its one fetch.
  public func dueFetches() -> [Fetch] {
    let now = clock.now()
    var fetches: [Fetch] = []
    for slot in schedules.indices {
      guard let reason = schedules[slot].dueReason(at: now, online: isOnline, visible: isFocused) else { continue }
      schedules[slot].start(reason, at: now)
      fetches.append(Fetch(key: keys[slot], reason: reason))
    }
    return fetches
  }

  /// When ``dueFetches()`` next has something to return (possibly already past), or `nil` when nothing is
  /// scheduled. Changes only through the calls of this type (and the clock).
  public func nextDeadline() -> SchedulerInstant? {
    var earliest: SchedulerInstant?
    for schedule in schedules where schedule.inFlight == nil {
      guard let due = schedule.nextDue(online: isOnline, visible: isFocused) else { continue }
      earliest = min(earliest ?? due, due)
    }
    return earliest
  }

  /// The fetch of `key` succeeded: the backoff and the error are forgotten and the periodic refresh counts from
  /// now. Returns the waiters to answer now. Ignored when no fetch of `key` is in flight.
  public func fetchSucceeded(_ key: Key) -> [WaiterID] {
    guard let slot = slots[key], schedules[slot].inFlight != nil else { return [] }
    schedules[slot].succeed(at: clock.now())
    return release(key, takeWaiting(slot))
  }

  /// The fetch of `key` failed with `error`: a retry is scheduled after the backoff, and not before `retryAfter`
  /// (milliseconds) when the source gave one. Returns the waiters to answer now (they do not wait for retries).
  /// Ignored when no fetch of `key` is in flight.
  public func fetchFailed(_ key: Key, error: String, retryAfter: Milliseconds? = nil) -> [WaiterID] {
    guard let slot = slots[key], schedules[slot].inFlight != nil else { return [] }
    schedules[slot].fail(error, retryAfter: retryAfter, at: clock.now(), using: &random)
    return release(key, takeWaiting(slot))
  }

  // MARK: - Sync state

  /// What a client sees of `key`'s synchronisation, or `nil` for an unknown key.
  public func syncState(_ key: Key) -> SyncState? {
    guard let slot = slots[key] else { return nil }
    return schedules[slot].syncState(at: clock.now(), online: isOnline, visible: isFocused)
  }

  /// Forgets `key`'s error and backoff (`usage/resetError`): the periodic refresh resumes; a retry-after hint
  /// from the source still holds.
  public func resetError(_ key: Key) {
    guard let slot = slots[key] else { return }
    schedules[slot].resetError()
  }

  // MARK: - Waiters

  private func takeWaiting(_ slot: Int) -> Set<WaiterID> {
    defer { schedules[slot].waiting = [] }
    return schedules[slot].waiting
  }

  /// Ends the waits of `released` on `key`; returns those that wait for nothing else, in order.
  private func release(_ key: Key, _ released: Set<WaiterID>) -> [WaiterID] {
    var done: [WaiterID] = []
    for waiter in released {
      guard var pending = waiters[waiter] else { continue }
      pending.remove(key)
      if pending.isEmpty {
        waiters[waiter] = nil
        done.append(waiter)
      } else {
        waiters[waiter] = pending
      }
    }
    return done.sorted()
  }
}

extension RefreshScheduler.Fetch: Sendable where Key: Sendable {}

@available(*, unavailable)
extension RefreshScheduler: Sendable {}
