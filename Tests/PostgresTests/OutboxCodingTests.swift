import Ledger
import Testing
import UsageCore

@testable import Postgres

/// How a change waiting for PostgreSQL is kept in the local outbox and read back.
struct OutboxCodingTests {
  @Test func aChangeWithDetailComesBackAsItWasKept() {
    let change = RecordedChange(
      metric: "tokens", delta: 1550, at: Timestamp(milliseconds: 1_765_000_000_000), key: "k1", label: "gpt-4o",
      detail: ChangeDetail(fields: [1200, 350], cost: 0.0065, priced: true, events: 1))
    let entry = OutboxCoding.entry(change, key: "k1")
    #expect(entry.metric.hasPrefix("postgres:"))
    #expect(OutboxCoding.change(entry) == change)
  }

  @Test func madeKeysNameTheirBurst() {
    #expect(OutboxCoding.burst(of: "usagectx:s1:7:3") == "usagectx:s1:7")
    #expect(OutboxCoding.burst(of: "client-key:1") == nil)
    #expect(OutboxCoding.skipped("[0, 2]") == [0, 2])
    #expect(OutboxCoding.skipped(nil) == [])
  }
}
