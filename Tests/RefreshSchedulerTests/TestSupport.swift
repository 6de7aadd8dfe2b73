import RefreshScheduler
import TestSupport
import Testing

/// The first seed whose first retry delay from `backoff` is longer than `delay` (for tests that need a long wait).
func seed(drawingMoreThan delay: Milliseconds, from backoff: Backoff) -> UInt64 {
  (0...).first { seed in
    var generator = SeededGenerator(seed: seed)
    return backoff.delay(attempt: 0, using: &generator) > delay
  }!
}

/// Milliseconds in `n` seconds.
func seconds(_ n: Int64) -> Milliseconds { n * 1_000 }

/// Milliseconds in `n` minutes.
func minutes(_ n: Int64) -> Milliseconds { n * 60_000 }

/// How a simulated fetch ends.
enum Outcome {
  case success
  case failure(String, retryAfter: Milliseconds? = nil)
}

/// One fetch seen by ``Harness/run(for:latency:outcome:)``: when it started, for which key, and why.
struct StartedFetch: Equatable, CustomStringConvertible {
  var at: Milliseconds
  var key: String
  var reason: RefreshReason

  var description: String { "\(key)@\(at)ms(\(reason.rawValue))" }
}

/// A scheduler over string keys on a manual clock and a seeded random source. Times in its answers are
/// milliseconds since the harness was created.
final class Harness {
  let clock: ManualSchedulerClock
  let scheduler: RefreshScheduler<String>
  /// The clock's reading when the harness was made (instants are shown relative to it).
  let origin = SchedulerInstant(milliseconds: 10_000_000)

  /// A scheduler with `keys` added under `policy`; their initial fetches are not started.
  init(_ keys: [String] = ["a"], policy: RefreshPolicy = RefreshPolicy(), seed: UInt64 = 1) {
    clock = ManualSchedulerClock(origin)
    scheduler = RefreshScheduler(clock: clock, random: SeededGenerator(seed: seed))
    for key in keys { scheduler.add(key, policy: policy) }
  }

  /// Milliseconds since the harness was made.
  var now: Milliseconds { clock.now() - origin }

  /// `milliseconds` after the harness was made, as an instant.
  func at(_ milliseconds: Milliseconds) -> SchedulerInstant { origin + milliseconds }

  func advance(_ milliseconds: Milliseconds) { clock.advance(by: milliseconds) }

  /// The fetches due now, as key → reason (their order is checked separately).
  func due() -> [String: RefreshReason] {
    Dictionary(uniqueKeysWithValues: scheduler.dueFetches().map { ($0.key, $0.reason) })
  }

  /// Starts and completes at once every fetch due now (the initial reads, typically).
  func settle() {
    for fetch in scheduler.dueFetches() { _ = scheduler.fetchSucceeded(fetch.key) }
  }

  /// The deadline relative to the harness origin.
  var nextDeadline: Milliseconds? { scheduler.nextDeadline().map { $0 - origin } }

  /// The sync state of `key`.
  func state(_ key: String = "a") -> SyncState { scheduler.syncState(key)! }

  /// Drives the scheduler the way the session loop does, for `duration` from now: sleeps until the next deadline
  /// or fetch completion, completes fetches `latency` after they start with `outcome`, and starts what is due.
  /// Returns the fetches started.
  @discardableResult
  func run(
    for duration: Milliseconds, latency: Milliseconds = 0, outcome: (StartedFetch) -> Outcome = { _ in .success },
    sourceLocation: SourceLocation = #_sourceLocation
  ) -> [StartedFetch] {
    let end = clock.now() + duration
    var started: [StartedFetch] = []
    var completions: [(at: SchedulerInstant, fetch: StartedFetch)] = []
    while true {
      var wake = scheduler.nextDeadline()
      if let completion = completions.map(\.at).min() { wake = min(wake ?? completion, completion) }
      guard let wake, wake <= end else { break }
      clock.advance(to: wake)
      let now = clock.now()
      var progressed = false
      for completion in completions where completion.at <= now {
        progressed = true
        switch outcome(completion.fetch) {
        case .success: _ = scheduler.fetchSucceeded(completion.fetch.key)
        case .failure(let message, let retryAfter):
          _ = scheduler.fetchFailed(completion.fetch.key, error: message, retryAfter: retryAfter)
        }
      }
      completions.removeAll { $0.at <= now }
      for fetch in scheduler.dueFetches() {
        progressed = true
        let record = StartedFetch(at: now - origin, key: fetch.key, reason: fetch.reason)
        started.append(record)
        completions.append((now + latency, record))
      }
      if !progressed {
        Issue.record("the deadline \(wake) passed but nothing was due", sourceLocation: sourceLocation)
        break
      }
    }
    clock.advance(to: end)
    return started
  }
}
