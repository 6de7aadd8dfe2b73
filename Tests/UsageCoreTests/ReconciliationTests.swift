import TestSupport
import Synchronization
import Testing
import UsageCore

/// An authority in another process, played by the test: reports queue up until the test lets the "backend" process
/// them, and answers (acknowledgements, readings) come back in the order the requests were sent, as over a pipe.
final class ScriptedAuthority: Authority {
  enum Request: Equatable {
    case report(ReportedChange)
    case read(ReadTicket)
  }

  enum Answer: Equatable {
    case acknowledged(seq: UInt64)
    case value(ReadTicket, Int64)
  }

  struct Backend {
    /// The backend's number.
    var value: Int64 = 0
    var requests: [Request] = []
    var answers: [Answer] = []
    /// When set, reports are acknowledged but not applied (the write is lost).
    var losesWrites = false
  }

  let backend = Mutex(Backend())

  var name: String { "scripted backend" }

  func read() throws(AuthorityError) -> Int64 { backend.withLock { $0.value } }

  func report(_ change: ReportedChange) -> ReportReceipt {
    backend.withLock { $0.requests.append(.report(change)) }
    return .pending
  }

  /// Sends a read request (its answer comes after those of the requests sent before it).
  func sendRead(_ ticket: ReadTicket) {
    backend.withLock { $0.requests.append(.read(ticket)) }
  }

  /// The backend handles its oldest request. Returns `false` when there was none.
  @discardableResult
  func process() -> Bool {
    backend.withLock { backend in
      guard !backend.requests.isEmpty else { return false }
      switch backend.requests.removeFirst() {
      case .report(let change):
        if !backend.losesWrites { backend.value += change.delta }
        backend.answers.append(.acknowledged(seq: change.seq))
      case .read(let ticket):
        backend.answers.append(.value(ticket, backend.value))
      }
      return true
    }
  }

  /// Another device changes the backend's number.
  func externalWrite(_ delta: Int64) {
    backend.withLock { $0.value += delta }
  }

  /// The oldest answer on its way back, if any.
  func nextAnswer() -> Answer? {
    backend.withLock { $0.answers.isEmpty ? nil : $0.answers.removeFirst() }
  }
}

/// The reconciliation model: optimistic changes, settlement, stale readings, drift, and exact counting across any
/// interleaving of changes and readings.
@Suite("Reconciliation")
struct ReconciliationTests {
  static let widgets = MetricDescriptor(
    name: "widgets", unit: "widgets", kind: .count, limits: TierLimits(free: 100, pro: nil, ultra: nil))

  struct Setup {
    let context: UsageContext
    let backend: ScriptedAuthority
    let metric = 0

    init() throws {
      backend = ScriptedAuthority()
      context = try UsageContext(
        plugins: [FixedPlugin(name: "widgets", ReconciliationTests.widgets)],
        clock: ManualWallClock(Fixture.defaultStart),
        authorities: ["widgets": backend])
    }

    var used: Int64 { context.state(ofMetric: metric).used }
    var unconfirmed: Int64 { context.state(ofMetric: metric).unconfirmed }

    /// Delivers the next answer to the context; returns the drift a reading reported, and whether it was stale.
    @discardableResult
    func deliver() -> (drift: Drift?, stale: Bool)? {
      guard let answer = backend.nextAnswer() else { return nil }
      switch answer {
      case .acknowledged(let seq):
        context.settle(metric: metric, seq: seq)
        return (nil, false)
      case .value(let ticket, let value):
        switch context.acceptReading(ticket, value: value) {
        case .accepted(_, let drift): return (drift, false)
        case .stale: return (nil, true)
        }
      }
    }

    /// Reads the backend with nothing else in flight.
    func readNow() -> (drift: Drift?, stale: Bool)? {
      backend.sendRead(context.beginRead(metric: metric))
      while backend.process() {}
      var last: (drift: Drift?, stale: Bool)?
      while let outcome = deliver() { last = outcome }
      return last
    }
  }

  @Test("a change shows at once and counts as unconfirmed until the authority acknowledges it")
  func optimistic() throws {
    let setup = try Setup()
    _ = try setup.context.increment(metric: 0, amount: 5)
    #expect(setup.used == 5)
    #expect(setup.unconfirmed == 5)
    setup.backend.process()
    setup.deliver()
    #expect(setup.used == 5)
    #expect(setup.unconfirmed == 0)
    // The reading includes it: still 5, no drift.
    let outcome = setup.readNow()
    #expect(outcome?.drift == nil && outcome?.stale == false)
    #expect(setup.used == 5)
  }

  @Test("a reading that started before an acknowledgement is discarded: no rollback")
  func staleReading() throws {
    let setup = try Setup()
    _ = try setup.context.increment(metric: 0, amount: 3)
    // The read starts while the report is still unacknowledged...
    let ticket = setup.context.beginRead(metric: 0)
    setup.backend.process()
    setup.deliver()
    // ...and the value it brings predates the write.
    guard case .stale = setup.context.acceptReading(ticket, value: 0) else {
      Issue.record("a reading older than an acknowledgement must be stale")
      return
    }
    #expect(setup.used == 3)
  }

  @Test("a reading during an unacknowledged change keeps that change on top of the authority's number")
  func pendingSurvivesReading() throws {
    let setup = try Setup()
    _ = try setup.context.increment(metric: 0, amount: 2)
    setup.backend.externalWrite(10)
    // The read reaches the backend before the report does.
    let ticket = setup.context.beginRead(metric: 0)
    guard case .accepted(let result, let drift) = setup.context.acceptReading(ticket, value: try setup.backend.read())
    else {
      Issue.record("no change was settled during the read: it is accepted")
      return
    }
    #expect(result.state.used == 12)
    // The first reading has nothing to disagree with.
    #expect(drift == nil)
    #expect(setup.unconfirmed == 2)
    setup.backend.process()
    setup.deliver()
    #expect(setup.readNow()?.drift == nil)
    #expect(setup.used == 12)
  }

  @Test("a write the backend acknowledged but lost is corrected by the next reading, with a drift")
  func lostWrite() throws {
    let setup = try Setup()
    _ = setup.readNow()
    setup.backend.backend.withLock { $0.losesWrites = true }
    _ = try setup.context.increment(metric: 0, amount: 4)
    #expect(setup.used == 4)
    setup.backend.process()
    setup.deliver()
    let outcome = setup.readNow()
    #expect(outcome?.drift == Drift(metric: "widgets", expected: 4, authoritative: 0, delta: -4))
    #expect(setup.used == 0)
  }

  @Test("another device's change arrives as drift; this device's pending change is kept")
  func anotherDevice() throws {
    let setup = try Setup()
    _ = setup.readNow()
    setup.backend.externalWrite(7)
    _ = try setup.context.increment(metric: 0, amount: 1)
    let ticket = setup.context.beginRead(metric: 0)
    setup.backend.sendRead(ticket)
    // The read is answered before the report is handled: 7 from elsewhere, 1 still pending here.
    setup.backend.backend.withLock { backend in backend.requests.reverse() }
    setup.backend.process()
    let outcome = setup.deliver()
    #expect(outcome?.drift == Drift(metric: "widgets", expected: 0, authoritative: 7, delta: 7))
    #expect(setup.used == 8)
    setup.backend.process()
    setup.deliver()
    #expect(setup.readNow()?.drift == nil)
    #expect(setup.used == 8)
  }

  @Test("a change to a source that is only read counts at once, and the source's next word wins")
  func readOnlySource() throws {
    struct Directory: Authority {
      var name: String { "directory" }
      func read() throws(AuthorityError) -> Int64 { 2 }
    }
    let directory = Directory()
    let context = try UsageContext(
      plugins: [FixedPlugin(name: "widgets", Self.widgets)], clock: ManualWallClock(Fixture.defaultStart),
      authorities: ["widgets": directory])
    guard case .accepted = context.acceptReading(context.beginRead(metric: 0), value: try directory.read()) else {
      Issue.record("first reading")
      return
    }
    _ = try context.increment(metric: 0, amount: 1)
    #expect(context.state(ofMetric: 0).used == 3)
    #expect(context.state(ofMetric: 0).unconfirmed == 0)
    // The client said it created a file, but the directory holds the same two.
    guard case .accepted(let result, let drift) = context.acceptReading(context.beginRead(metric: 0), value: 2) else {
      Issue.record("a reading after the change is accepted")
      return
    }
    #expect(result.state.used == 2)
    #expect(drift == Drift(metric: "widgets", expected: 3, authoritative: 2, delta: -1))
  }

  @Test("a new period forgets the old period's unacknowledged changes and readings")
  func periodRestart() throws {
    let clock = ManualWallClock(Fixture.defaultStart)
    let backend = ScriptedAuthority()
    var daily = Self.widgets
    daily.period = .daily
    let context = try UsageContext(
      plugins: [FixedPlugin(name: "widgets", daily)], clock: clock, authorities: ["widgets": backend])
    _ = try context.increment(metric: 0, amount: 6)
    let ticket = context.beginRead(metric: 0)
    clock.advance(seconds: 24 * 3600)
    #expect(context.state(ofMetric: 0).used == 0)
    guard case .stale = context.acceptReading(ticket, value: 6) else {
      Issue.record("a reading from the previous period is stale")
      return
    }
    #expect(context.settle(metric: 0, seq: 1) == false)
    #expect(context.state(ofMetric: 0).used == 0)
  }

  @Test("no change is lost or counted twice, whatever the interleaving", arguments: 0..<40)
  func interleavings(seed: UInt64) throws {
    let setup = try Setup()
    var generator = SeededGenerator(seed: seed)
    var local: Int64 = 0
    var external: Int64 = 0
    var lost: Int64 = 0
    var drifted: Int64 = 0
    let losesSome = seed % 4 == 3
    _ = setup.readNow()
    for _ in 0..<400 {
      switch Int.random(in: 0..<100, using: &generator) {
      case 0..<30:
        let amount = Int64.random(in: 1...5, using: &generator)
        _ = try setup.context.increment(metric: 0, amount: amount)
        local += amount
      case 30..<38:
        let amount = Int64.random(in: 1...3, using: &generator)
        _ = try setup.context.decrement(metric: 0, amount: amount)
        local -= amount
      case 38..<50:
        setup.backend.sendRead(setup.context.beginRead(metric: 0))
      case 50..<75:
        let losing = losesSome && Bool.random(using: &generator)
        let next = setup.backend.backend.withLock { backend -> Int64? in
          backend.losesWrites = losing
          if case .report(let change) = backend.requests.first { return change.delta }
          return nil
        }
        if setup.backend.process(), losing, let delta = next { lost += delta }
      case 75..<97:
        if let drift = setup.deliver()?.drift { drifted += drift.delta }
      default:
        if seed % 2 == 1 {
          let amount = Int64.random(in: -2...4, using: &generator)
          setup.backend.externalWrite(amount)
          external += amount
        }
      }
      // Without anything from elsewhere, the number shown is exactly what was changed here (clamped).
      if external == 0 && lost == 0 { #expect(setup.used == max(0, local)) }
    }
    // Quiescence: everything handled and answered, then one more reading.
    setup.backend.backend.withLock { $0.losesWrites = false }
    while setup.backend.process() {}
    while let outcome = setup.deliver() { drifted += outcome.drift?.delta ?? 0 }
    drifted += setup.readNow()?.drift?.delta ?? 0
    let truth = try setup.backend.read()
    #expect(truth == local + external - lost)
    #expect(setup.used == max(0, truth))
    #expect(setup.unconfirmed == 0)
    // Every difference from elsewhere was announced exactly once.
    #expect(drifted == external - lost)
  }
}
