import Foundation
import Ledger
import Testing
import UsageCore

/// Every label of a change kept in the change log: history by week, by any label and for one label's value, and
/// the rows export reads.
@Suite("Ledger labels")
struct LedgerLabelsTests {
  static func ms(_ text: String) -> Int64 { LedgerHistoryTests.ms(text) }

  static func change(
    _ delta: Int64, _ at: String, model: String = "gpt-4o", provider: String? = "openai", conversation: String? = nil,
    key: String? = nil
  ) -> LedgerChange {
    var labels = ["model": model]
    labels["provider"] = provider
    labels["conversation"] = conversation
    return LedgerChange(
      metric: "tokens", delta: delta, at: Timestamp(milliseconds: ms(at)), key: key, label: model,
      detail: ChangeDetail(fields: [delta - 1, 1], cost: Double(delta) / 1000), labels: labels)
  }

  @Test("labels are kept as JSON with sorted keys; none is NULL")
  func encoding() {
    #expect(ChangeLabels.encode([:]) == nil)
    #expect(
      ChangeLabels.encode(["model": "gpt-4o", "conversation": "c\"1", "provider": "openai"])
        == #"{"conversation":"c\"1","model":"gpt-4o","provider":"openai"}"#)
  }

  @Test("by conversation and by provider: one row per value, those without it last as nil, with fields and cost")
  func byLabel() throws {
    let store = try LedgerHistoryTests.store([
      Self.change(10, "2026-11-02T10:00:00Z", conversation: "b"),
      Self.change(20, "2026-11-02T11:00:00Z", model: "claude", provider: "anthropic", conversation: "a"),
      Self.change(30, "2026-11-03T10:00:00Z", conversation: "a"),
      Self.change(40, "2026-11-03T11:00:00Z", provider: nil),
    ])
    #expect(
      try store.history(metric: "tokens", since: nil, until: nil, groupBy: .label("conversation")) == [
        HistoryRow(metric: "tokens", group: "a", total: 50, changes: 2, fields: [48, 2, 0, 0], cost: 0.05),
        HistoryRow(metric: "tokens", group: "b", total: 10, changes: 1, fields: [9, 1, 0, 0], cost: 0.01),
        HistoryRow(metric: "tokens", group: nil, total: 40, changes: 1, fields: [39, 1, 0, 0], cost: 0.04),
      ])
    let providers = try store.history(metric: nil, since: nil, until: nil, groupBy: .label("provider"))
    #expect(providers.map(\.group) == ["anthropic", "openai", nil])
    #expect(providers.map(\.total) == [20, 40, 40])
    // One conversation's usage, by model.
    #expect(
      try store.history(metric: "tokens", since: nil, until: nil, groupBy: .model, labels: ["conversation": "a"])
        .map { [$0.group ?? "", String($0.total)] } == [["claude", "20"], ["gpt-4o", "30"]])
    #expect(
      try store.history(metric: "tokens", since: nil, until: nil, groupBy: .day, labels: ["model": "claude"])
        .map(\.total) == [20])
  }

  @Test("changes without a key in one batch share a row only when all their labels agree")
  func sharedRows() throws {
    let store = try LedgerHistoryTests.store([
      Self.change(1, "2026-11-02T10:00:00Z", conversation: "a"),
      Self.change(2, "2026-11-02T10:00:01Z", conversation: "a"),
      Self.change(4, "2026-11-02T10:00:02Z", conversation: "b"),
    ])
    var rows: [ChangeRow] = []
    try store.forEachChange(metric: nil, since: nil, until: nil) { rows.append($0) }
    #expect(rows.map(\.count) == [2, 1])
    #expect(rows.map(\.delta) == [3, 4])
    #expect(rows.first?.labels == #"{"conversation":"a","model":"gpt-4o","provider":"openai"}"#)
    #expect(try store.total(metric: "tokens", since: nil) == 7)
  }

  @Test("ISO weeks: Monday to Sunday, the year of the week's Thursday")
  func weeks() throws {
    let day = { (text: String) in Self.ms(text + "T00:00:00Z") / 86_400_000 }
    #expect(LedgerStore.isoWeek(ofDay: day("2026-11-16")) == "2026-W47")
    #expect(LedgerStore.isoWeek(ofDay: day("2026-11-22")) == "2026-W47")
    #expect(LedgerStore.isoWeek(ofDay: day("2026-11-23")) == "2026-W48")
    #expect(LedgerStore.isoWeek(ofDay: day("2027-01-01")) == "2026-W53")
    #expect(LedgerStore.isoWeek(ofDay: day("2025-12-29")) == "2026-W01")
    #expect(LedgerStore.isoWeek(ofDay: day("1970-01-01")) == "1970-W01")
    let store = try LedgerHistoryTests.store([
      Self.change(1, "2026-11-22T23:59:59.999Z"), Self.change(2, "2026-11-23T00:00:00Z"),
      Self.change(4, "2026-11-29T12:00:00Z"),
    ])
    #expect(
      try store.history(metric: nil, since: nil, until: nil, groupBy: .week).map { "\($0.group ?? "") \($0.total)" }
        == ["2026-W47 1", "2026-W48 6"])
  }

  @Test("rolling a day up keeps each combination of labels apart")
  func rollUp() throws {
    let store = try LedgerHistoryTests.store([
      Self.change(1, "2026-01-02T10:00:00Z", conversation: "a", key: "k1"),
      Self.change(2, "2026-01-02T11:00:00Z", conversation: "a", key: "k2"),
      Self.change(4, "2026-01-02T12:00:00Z", conversation: "b", key: "k3"),
    ])
    #expect(try store.rollUpOldestDay(before: Self.ms("2026-06-01T00:00:00Z")) != nil)
    let rows = try store.history(metric: "tokens", since: nil, until: nil, groupBy: .label("conversation"))
    #expect(rows.map { "\($0.group ?? "") \($0.total) \($0.changes)" } == ["a 3 2", "b 4 1"])
  }
}
