import JSON
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

  @Test func labelsAreKeptInTheOutboxAndSentToTheDatabase() throws {
    let change = RecordedChange(
      metric: "tokens", delta: 3, at: Timestamp(milliseconds: 1_765_000_000_000), key: "k2", label: "gpt-4o",
      detail: ChangeDetail(fields: [2, 1], cost: 0.5, priced: true, events: 1),
      labels: ["model": "gpt-4o", "provider": "openai", "conversation": "c \"1\"\u{0}"])
    #expect(OutboxCoding.change(OutboxCoding.entry(change, key: "k2")) == change)
    // Sent to usagectx.apply as an object, keys in byte order; NUL, which jsonb cannot hold, as U+FFFD.
    let sent = try JSONData(parsing: OutboxCoding.json(replayed: [], burst: [change]))
    let labels = try #require(sent.array?.first?["labels"]?.objectMembers)
    #expect(labels.map(\.0) == ["conversation", "model", "provider"])
    #expect(labels.first?.1 == .string("c \"1\"\u{FFFD}"))
    // A change without labels sends none (the log keeps NULL).
    let bare = RecordedChange(metric: "requests", delta: 1, at: Timestamp(milliseconds: 1_765_000_000_000))
    #expect(try JSONData(parsing: OutboxCoding.json(replayed: [], burst: [bare])).array?.first?["labels"] == nil)
  }
}
