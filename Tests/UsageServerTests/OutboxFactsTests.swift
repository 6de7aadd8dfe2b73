import Testing
import UsageCore

@testable import UsageServer

/// What the outbox keeps of a change besides its amount comes back the same after a restart.
@Suite("Outbox facts")
struct OutboxFactsTests {
  @Test("labels, fields, cost and kind survive the round trip through the outbox's facts column")
  func roundTrip() throws {
    let change = ReportedChange(
      seq: 4, delta: 1550, key: "r1", label: "gpt-4o",
      detail: ChangeDetail(fields: [1200, 350], cost: 0.0065, priced: false, events: 1), kind: .change,
      labels: ["model": "gpt-4o", "provider": "openai"], fieldNames: ["input", "output"])
    let facts = try #require(OutboxFacts.encode(change))
    let back = OutboxFacts.change(seq: 9, delta: 1550, key: "r1", facts: facts)
    #expect(back.seq == 9)
    #expect(back.labels == change.labels)
    #expect(back.label == "gpt-4o")
    #expect(back.fieldNames == ["input", "output"])
    #expect(back.detail == change.detail)
    #expect(back.kind == .change)

    let reset = ReportedChange(seq: 1, delta: -3, kind: .reset)
    #expect(OutboxFacts.change(seq: 1, delta: -3, key: "k", facts: OutboxFacts.encode(reset)).kind == .reset)
    // A plain change has no facts; unreadable facts leave the amount and key.
    #expect(OutboxFacts.encode(ReportedChange(seq: 1, delta: 1)) == nil)
    let bare = OutboxFacts.change(seq: 2, delta: 5, key: "k", facts: "not json")
    #expect(bare.delta == 5 && bare.key == "k" && bare.labels.isEmpty && bare.detail == nil)
  }
}
