import RefreshScheduler
import TestSupport
import Synchronization
import Testing
import UsageCore
import UsageServer

/// An authority whose answers the test sets: a value, or a failure with an optional retry-after. Reports are
/// acknowledged by the test (they stay pending until then).
final class ControlledAuthority: Authority {
  struct State {
    var value: Int64 = 0
    var failure: AuthorityError?
    var reads = 0
    var reports: [ReportedChange] = []
  }

  let state = Mutex(State())
  var name: String { "controlled source" }

  func read() throws(AuthorityError) -> Int64 {
    let (value, failure) = state.withLock { state in
      state.reads += 1
      return (state.value, state.failure)
    }
    if let failure { throw failure }
    return value
  }

  func report(_ change: ReportedChange) -> ReportReceipt {
    state.withLock { $0.reports.append(change) }
    return .pending
  }

  var reads: Int { state.withLock { $0.reads } }
}

/// A plugin declaring one metric.
struct OneMetric: MetricPlugin {
  var info: PluginInfo { PluginInfo(name: "widgets", version: "1") }
  func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    [
      MetricDefinition(
        descriptor: MetricDescriptor(
          name: "widgets", unit: "widgets", kind: .count, limits: TierLimits(free: 10, pro: nil, ultra: nil)))
    ]
  }
}

/// The results posted back to the loop, waiting to run.
final class JobList: Sendable {
  let items = Mutex<[@Sendable () -> Void]>([])
}

/// A session's synchronizer on a manual clock: reads run at once, and their results wait in `jobs` until the test
/// runs the loop's jobs, as the session loop would.
final class Harness {
  let clock = ManualSchedulerClock()
  let wall = ManualWallClock(Timestamp(milliseconds: 1_767_225_600_000))
  let source = ControlledAuthority()
  let context: UsageContext
  let synchronizer: Synchronizer
  let jobs = JobList()
  var events: [Synchronizer.Event] = []

  init(policy: RefreshPolicy = RefreshPolicy(), seed: UInt64 = 1) throws {
    context = try UsageContext(plugins: [OneMetric()], clock: wall, authorities: ["widgets": source])
    let jobs = self.jobs
    synchronizer = Synchronizer(
      context: context, policies: [policy], clock: clock, random: SeededGenerator(seed: seed), run: { $0() },
      post: { job in jobs.items.withLock { $0.append(job) } })
    synchronizer.events = { [unowned self] event in events.append(event) }
  }

  /// Runs the posted results (and what they start), like the session loop.
  func runJobs() {
    while true {
      let pending = jobs.items.withLock { jobs in
        defer { jobs = [] }
        return jobs
      }
      if pending.isEmpty { return }
      for job in pending { job() }
    }
  }

  /// Runs the oldest posted result only.
  func runOneJob() {
    let job = jobs.items.withLock { $0.isEmpty ? nil : $0.removeFirst() }
    job?()
  }

  /// Moves time on by `milliseconds`, then does what the loop does on its timer.
  func advance(_ milliseconds: Milliseconds) {
    clock.advance(by: milliseconds)
    wall.advance(milliseconds: milliseconds)
    synchronizer.pump()
    runJobs()
  }

  var used: Int64 { context.state(ofMetric: 0).used }
  var sync: SyncStatus? { context.state(ofMetric: 0).sync }

  var drifts: [Drift] {
    events.compactMap { if case .drift(let drift) = $0 { drift } else { nil } }
  }

  var refreshed: [WaiterID] {
    events.compactMap { if case .refreshed(let waiter) = $0 { waiter } else { nil } }
  }

  var syncStates: [SyncStatus] {
    events.compactMap { if case .syncState(_, let status) = $0 { status } else { nil } }
  }
}

/// The synchronizer between the scheduler, the authorities and the context, on a manual clock: no sleeps.
@Suite("Synchronizer")
struct SynchronizerTests {
  @Test("the session starts from a read of every metric; the next periodic read is one interval later")
  func startUp() throws {
    let harness = try Harness()
    harness.source.state.withLock { $0.value = 4 }
    harness.synchronizer.readAllNow()
    #expect(harness.used == 4)
    #expect(harness.source.reads == 1)
    #expect(harness.sync?.state == .idle)
    #expect(harness.synchronizer.nextDeadline() == SchedulerInstant(milliseconds: 300_000))
    #expect(harness.sync?.nextRefreshAt == harness.wall.now().adding(milliseconds: 300_000))
    harness.advance(299_999)
    #expect(harness.source.reads == 1)
    harness.advance(1)
    #expect(harness.source.reads == 2)
  }

  @Test("a change is read back one debounce after the last change of a burst")
  func mutationDebounce() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    for _ in 0..<5 {
      _ = try harness.context.increment(metric: 0, amount: 1)
      harness.synchronizer.mutated(0)
      // The end of the burst that carried the change.
      harness.synchronizer.pump()
      harness.advance(500)
    }
    #expect(harness.source.reads == 1)
    harness.advance(499)
    #expect(harness.source.reads == 1)
    harness.advance(1)
    #expect(harness.source.reads == 2)
  }

  @Test("a failed read keeps the numbers, marks the error and retries after a jittered backoff; success clears it")
  func failureAndRecovery() throws {
    let harness = try Harness()
    harness.source.state.withLock { $0.value = 3 }
    harness.synchronizer.readAllNow()
    harness.source.state.withLock { $0.failure = AuthorityError("down", retryAfterMilliseconds: 1_500) }
    _ = harness.synchronizer.requestRefresh(nil, force: true)
    harness.synchronizer.pump()
    harness.runJobs()
    #expect(harness.used == 3)
    #expect(harness.context.state(ofMetric: 0).error == "controlled source: down")
    #expect(harness.sync?.state == .error)
    #expect(harness.sync?.attempt == 1)
    // The source asked for 1.5 s: nothing before, even though the backoff's first delay is at most 1 s.
    let retry = try #require(harness.synchronizer.nextDeadline())
    #expect(retry >= SchedulerInstant(milliseconds: 1_500))
    harness.advance(1_499)
    #expect(harness.source.reads == 2)
    harness.source.state.withLock { $0.failure = nil }
    harness.advance(retry - harness.clock.now())
    #expect(harness.source.reads == 3)
    #expect(harness.context.state(ofMetric: 0).error == nil)
    #expect(harness.sync?.state == .idle)
    #expect(harness.sync?.attempt == 0)
  }

  @Test("concurrent manual refreshes share one read, and each is answered when it completes")
  func singleFlight() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    harness.clock.advance(by: 10_000)
    let waiters = (0..<100).compactMap { _ in harness.synchronizer.requestRefresh(nil, force: false) }
    #expect(waiters.count == 100)
    harness.synchronizer.pump()
    harness.runJobs()
    #expect(harness.source.reads == 2)
    #expect(Set(harness.refreshed) == Set(waiters))
  }

  @Test("a manual refresh just after a read reuses it, unless forced or changed locally since")
  func dedupe() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    #expect(harness.synchronizer.requestRefresh(nil, force: false) == nil)
    #expect(harness.synchronizer.requestRefresh(nil, force: true) != nil)
    harness.synchronizer.pump()
    harness.runJobs()
    _ = try harness.context.increment(metric: 0, amount: 1)
    harness.synchronizer.mutated(0)
    #expect(harness.synchronizer.requestRefresh(nil, force: false) != nil)
  }

  @Test("a cancelled refresh is not answered; the read goes on")
  func cancel() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    let waiter = try #require(harness.synchronizer.requestRefresh(nil, force: true))
    harness.synchronizer.cancel(waiter)
    harness.synchronizer.pump()
    harness.runJobs()
    #expect(harness.source.reads == 2)
    #expect(harness.refreshed.isEmpty)
  }

  @Test("1,000 focus changes and 100 refreshes within the throttle make one read")
  func storm() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    harness.clock.advance(by: 10_000)
    for round in 0..<1_000 {
      harness.synchronizer.clientFocused(false)
      harness.clock.advance(by: round == 0 ? 1_000 : 0)
      harness.synchronizer.clientFocused(true)
      if round % 10 == 0 { _ = harness.synchronizer.requestRefresh(nil, force: false) }
      harness.synchronizer.pump()
    }
    harness.runJobs()
    #expect(harness.source.reads == 2)
  }

  @Test("the authority disagreeing with the expected number is a drift; the authority wins")
  func drift() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    _ = try harness.context.increment(metric: 0, amount: 2)
    harness.synchronizer.mutated(0)
    harness.synchronizer.pump()
    // The backend acknowledges the write but loses it.
    let seq = try #require(harness.source.state.withLock { $0.reports.last?.seq })
    harness.context.settle(metric: 0, seq: seq)
    harness.advance(1_000)
    #expect(harness.drifts == [Drift(metric: "widgets", expected: 2, authoritative: 0, delta: -2)])
    #expect(harness.used == 0)
  }

  @Test("a reading overtaken by an acknowledgement is discarded and read again at once, then after the debounce")
  func staleReading() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    _ = try harness.context.increment(metric: 0, amount: 2)
    let waiter = try #require(harness.synchronizer.requestRefresh(nil, force: true))
    // The read runs before the backend handled the change...
    harness.synchronizer.pump()
    // ...whose acknowledgement is handled before the reading comes back.
    let seq = try #require(harness.source.state.withLock { $0.reports.last?.seq })
    harness.source.state.withLock { $0.value = 2 }
    harness.context.settle(metric: 0, seq: seq)
    harness.runJobs()
    // The caller has its answer with the numbers as they stand; the metric was read again at once.
    #expect(harness.refreshed == [waiter])
    #expect(harness.source.reads == 3)
    #expect(harness.used == 2)
    #expect(harness.drifts.isEmpty)

    // Twice in a row: the second re-read waits for the debounce.
    _ = try harness.context.increment(metric: 0, amount: 1)
    _ = try harness.context.increment(metric: 0, amount: 1)
    let (first, second) = try #require(
      harness.source.state.withLock { state in
        state.reports.count >= 2
          ? (state.reports[state.reports.count - 2].seq, state.reports[state.reports.count - 1].seq) : nil
      })
    _ = harness.synchronizer.requestRefresh(nil, force: true)
    harness.synchronizer.pump()
    harness.context.settle(metric: 0, seq: first)
    // The stale reading comes back and the re-read starts; then the second change is settled under it.
    harness.runOneJob()
    harness.context.settle(metric: 0, seq: second)
    let reads = harness.source.reads
    harness.runJobs()
    #expect(harness.source.reads == reads)
    harness.source.state.withLock { $0.value = 4 }
    harness.advance(1_000)
    #expect(harness.source.reads == reads + 1)
    #expect(harness.used == 4)
    #expect(harness.drifts.isEmpty)
  }

  @Test("sync states are told when they change, not when only the next refresh moves later")
  func syncStates() throws {
    let harness = try Harness()
    harness.synchronizer.readAllNow()
    let told = harness.syncStates.count
    for _ in 0..<10 {
      harness.synchronizer.mutated(0)
      harness.clock.advance(by: 100)
      harness.synchronizer.publish()
    }
    // The first change moved the next refresh earlier (told); the others only pushed it on.
    #expect(harness.syncStates.count == told + 1)
    harness.advance(1_000)
    #expect(harness.syncStates.suffix(2).map(\.state) == [.loading, .idle])
  }
}
