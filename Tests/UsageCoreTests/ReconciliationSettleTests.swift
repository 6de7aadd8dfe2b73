import Testing

@testable import UsageCore

/// Settling changes in any order: each is found by its sequence number (a binary search over the waiting changes),
/// settled once, and the sums stay exact however many wait.
@Suite("Reconciliation settlement")
struct ReconciliationSettleTests {
  @Test("changes settled in any order are each settled once, and the value never moves", arguments: [1, 7, 42])
  func anyOrder(seed: UInt64) {
    var reconciliation = Reconciliation()
    _ = reconciliation.accept(100, startedAt: 0)
    let count = 5_000
    for _ in 1...count {
      let seq = reconciliation.nextSeq()
      reconciliation.record(seq: seq, delta: Int64(seq % 7), receipt: .pending, event: 0)
    }
    let total = (1...UInt64(count)).reduce(Int64(0)) { $0 + Int64($1 % 7) }
    #expect(reconciliation.value == 100 + total)
    #expect(reconciliation.unsettledCount == count)
    // A fixed permutation: settle in a scrambled order, with repeats that must be refused.
    var order = Array(1...UInt64(count))
    var state = seed
    for index in order.indices.reversed() {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      order.swapAt(index, Int(state >> 33) % (index + 1))
    }
    var event: UInt64 = 0
    for (position, seq) in order.enumerated() {
      event += 1
      let first = reconciliation.settle(seq: seq, event: event)
      let again = reconciliation.settle(seq: seq, event: event)
      #expect(first && !again)
      if position % 997 == 0 {
        #expect(reconciliation.value == 100 + total)
        #expect(reconciliation.unsettledCount == count - position - 1)
        #expect(reconciliation.unsettled.count == count - position - 1)
      }
    }
    #expect(reconciliation.unsettledCount == 0)
    #expect(reconciliation.unsettledSum == 0)
    #expect(reconciliation.settled == total)
    let unknown = reconciliation.settle(seq: UInt64(count) + 1, event: event)
    #expect(!unknown)
    // Numbers go on growing after everything was settled.
    let next = reconciliation.nextSeq()
    reconciliation.record(seq: next, delta: 3, receipt: .pending, event: event)
    #expect(reconciliation.unsettled.map(\.seq) == [next])
    let last = reconciliation.settle(seq: next, event: event + 1)
    #expect(last)
  }
}
