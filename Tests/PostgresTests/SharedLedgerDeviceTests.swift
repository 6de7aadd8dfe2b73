import Foundation
import Ledger
@testable import Postgres
import Testing
import TestSupport
import UsageCore

/// The shared ledger against a real PostgreSQL: two devices on one account, keys across devices, the outbox of a
/// device that was offline.
@Suite(
  "Shared ledger", .serialized,
  .enabled(if: ThrowawayPostgres.available, Comment(rawValue: ThrowawayPostgres.unavailable ?? "")))
struct SharedLedgerDeviceTests {
  static func local() throws -> DurableLedger {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-pg-\(UUID().uuidString)")
      .path
    return try DurableLedger(store: try LedgerStore(directory: directory))
  }

  static func open(_ url: String, _ account: String, local: DurableLedger? = nil) throws -> SharedLedger {
    SharedLedger(
      local: try local ?? Self.local(), url: url, account: account, device: "test", session: UUID().uuidString)
  }

  static let now = SystemWallClock().now()

  @Test("a commit on one device is seen by the other after its notification, with the device named")
  func twoDevices() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let first = try Self.open(postgres.url, account)
    let second = try Self.open(postgres.url, account)
    #expect(first.isOnline && second.isOnline)
    try first.begin(touching: ["requests"], keys: [])
    first.record(RecordedChange(metric: "requests", delta: 4, at: Self.now))
    #expect(first.answeringAuthority == "postgres")
    try first.commit()
    #expect(first.total(metric: "requests", since: nil) == 4)
    // The notification is on the second device's socket once it is readable.
    var descriptor = pollfd(fd: second.socket, events: Int16(POLLIN), revents: 0)
    #expect(poll(&descriptor, 1, 10_000) == 1)
    let (moved, sources) = second.absorbOthers()
    #expect(moved == ["requests"])
    #expect(sources == ["test"])
    #expect(second.total(metric: "requests", since: nil) == 4)
  }

  @Test("a key kept by one device is found by the other in the burst's first round trip")
  func keysAcrossDevices() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let first = try Self.open(postgres.url, account)
    let second = try Self.open(postgres.url, account)
    try first.begin(touching: ["requests"], keys: ["k"])
    #expect(try first.keptAnswer("k") == nil)
    first.record(RecordedChange(metric: "requests", delta: 1, at: Self.now, key: "k"))
    first.keep(KeptAnswer(key: "k", fingerprint: "f", answer: Array(#"{"used":1}"#.utf8), at: Self.now.milliseconds))
    try first.commit()
    try second.begin(touching: ["requests"], keys: ["k"])
    let kept = try second.keptAnswer("k")
    #expect(kept?.fingerprint == "f")
    #expect(kept?.answer == Array(#"{"used":1}"#.utf8))
    try second.commit()
  }

  @Test("the breakdown is summed over every device: per label, and what has none")
  func breakdownAcrossDevices() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let first = try Self.open(postgres.url, account)
    let second = try Self.open(postgres.url, account)
    for (ledger, input) in [(first, Int64(10)), (second, Int64(20))] {
      try ledger.begin(touching: ["tokens"], keys: [])
      ledger.record(
        RecordedChange(
          metric: "tokens", delta: input + 5, at: Self.now, label: "gpt-4o",
          detail: ChangeDetail(fields: [input, 5], cost: 0.5, priced: true, events: 1)))
      ledger.record(
        RecordedChange(
          metric: "tokens", delta: 3, at: Self.now, detail: ChangeDetail(fields: [3, 0], cost: 0, priced: false)))
      try ledger.commit()
    }
    let third = try Self.open(postgres.url, account)
    let totals = third.breakdown(metric: "tokens", since: nil)
    let model = try #require(totals.first { $0.label == "gpt-4o" })
    #expect(model.amount == 40)
    #expect(model.fields == [30, 10, 0, 0])
    #expect(model.cost == 1.0)
    #expect(model.events == 2)
    #expect(model.priced)
    let unlabelled = try #require(totals.first { $0.label == nil })
    #expect(unlabelled.amount == 6)
    #expect(unlabelled.fields == [6, 0, 0, 0])
    #expect(unlabelled.events == 2)
  }

  @Test("answers older than 24 hours are forgotten when a device connects; recent ones stay")
  func oldKeysForgotten() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    _ = try Self.open(postgres.url, account)
    let connection = try PostgresConnection(url: postgres.url)
    let day: Int64 = 86_400_000
    try connection.run(
      """
      INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
      SELECT id, 'old', 'f', '{}', \(Self.now.milliseconds - 2 * day) FROM usagectx.accounts WHERE name = '\(account)';
      INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
      SELECT id, 'recent', 'f', '{}', \(Self.now.milliseconds - day / 2) FROM usagectx.accounts WHERE name = '\(account)';
      """)
    _ = try Self.open(postgres.url, account)
    let rows = try connection.run(
      "SELECT key FROM usagectx.keys k JOIN usagectx.accounts a ON a.id = k.account WHERE a.name = '\(account)'")
    #expect(rows.last?.rows.map { $0[0] } == ["recent"])
  }

  @Test("a key delivered from an outbox without its answer still counts as used")
  func keyWithoutAnswer() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let ledger = try Self.open(postgres.url, account)
    try PostgresConnection(url: postgres.url).run(
      """
      INSERT INTO usagectx.keys (account, key, fingerprint, answer, at)
      SELECT id, 'delivered', '', NULL, \(Self.now.milliseconds) FROM usagectx.accounts WHERE name = '\(account)'
      """)
    try ledger.begin(touching: ["requests"], keys: ["delivered"])
    let kept = try #require(try ledger.keptAnswer("delivered"))
    #expect(kept.fingerprint == "")
    try ledger.commit()
  }

  @Test("changes made offline wait in the local outbox and are delivered once, by the next session online")
  func offlineThenDelivered() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let local = try Self.local()
    let unreachable = "postgresql:///postgres?host=/nonexistent-usagectx&user=postgres"
    do {
      let offline = try Self.open(unreachable, account, local: local)
      #expect(!offline.isOnline)
      try offline.begin(touching: ["requests"], keys: [])
      #expect(offline.answeringAuthority == "offline")
      offline.record(RecordedChange(metric: "requests", delta: 2, at: Self.now))
      offline.record(RecordedChange(metric: "requests", delta: 3, at: Self.now, key: "client-key"))
      try offline.commit()
      #expect(offline.undeliveredCount == 2)
      #expect(throws: AuthorityError.self) { try offline.read(metric: "requests", since: nil) }
    }
    // A later session on the same device, with PostgreSQL reachable: it starts from the outbox and delivers it.
    let online = try Self.open(postgres.url, account, local: local)
    #expect(online.undeliveredCount == 2)
    #expect(online.total(metric: "requests", since: nil) == 5)
    try online.deliverWaiting()
    #expect(online.undeliveredCount == 0)
    #expect(try online.read(metric: "requests", since: nil) == 5)
    // Delivered once: another device reads 5, and the local outbox is empty.
    let other = try Self.open(postgres.url, account)
    #expect(other.total(metric: "requests", since: nil) == 5)
    #expect(try local.waitingInOutbox().isEmpty)
  }

  // MARK: - Labels

  /// A change of tokens at `day` (`2026-11-02`, noon UTC) with these labels (`model` is also its breakdown entry).
  static func tokens(
    _ input: Int64, _ output: Int64, cost: Double, day: String, labels: [String: String]
  ) throws -> RecordedChange {
    let at = try #require(Timestamp(iso8601: day + "T12:00:00Z"))
    return RecordedChange(
      metric: "tokens", delta: input + output, at: at, label: labels["model"],
      detail: ChangeDetail(fields: [input, output], cost: cost, priced: labels["model"] != nil, events: 1),
      labels: labels)
  }

  /// Two devices' changes with models, providers and conversations over two ISO weeks, and one without labels.
  static func labelledChanges() throws -> [[RecordedChange]] {
    let a: [String: String] = ["model": "gpt-4o", "provider": "openai", "conversation": "c-1"]
    let b: [String: String] = ["model": "claude", "provider": "anthropic", "conversation": "c-1"]
    let c: [String: String] = ["model": "gpt-4o", "provider": "openai", "conversation": "c-2"]
    return [
      [
        try tokens(100, 50, cost: 0.5, day: "2026-11-02", labels: a),  // Monday of 2026-W45
        try tokens(10, 5, cost: 0.25, day: "2026-11-08", labels: b),  // Sunday of 2026-W45
        try tokens(7, 0, cost: 0, day: "2026-11-09", labels: [:]),  // Monday of 2026-W46
      ],
      [
        try tokens(200, 100, cost: 1, day: "2026-11-03", labels: c),
        try tokens(20, 10, cost: 0.5, day: "2026-11-10", labels: a),
        try tokens(1, 1, cost: 0.125, day: "2026-11-10", labels: ["provider": "openai", "conversation": "c-2"]),
      ],
    ]
  }

  @Test("history across two devices groups by any label and filters by labels, exactly as the local ledger does")
  func labelsAcrossDevices() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let devices = try (0..<2).map { _ in try Self.open(postgres.url, account) }
    // The same changes in one plain local ledger: what the account's history must equal, row for row.
    let reference = try Self.local()
    for (device, changes) in zip(devices, try Self.labelledChanges()) {
      try device.begin(touching: ["tokens"], keys: [])
      try reference.begin(touching: ["tokens"])
      for change in changes {
        device.record(change)
        reference.record(change)
      }
      try device.commit()
      try reference.commit()
    }
    let reader = try Self.open(postgres.url, account)
    let groupings: [HistoryGrouping] = [
      .day, .week, .month, .model, .label("provider"), .label("conversation"), .label("absent"),
    ]
    let filters: [[String: String]] = [
      [:], ["conversation": "c-1"], ["conversation": "c-2"], ["model": "gpt-4o"],
      ["model": "gpt-4o", "conversation": "c-2"], ["provider": "openai", "conversation": "c-2"],
      ["conversation": "none"],
    ]
    for grouping in groupings {
      for filter in filters {
        let shared = try reader.history(metric: "tokens", since: nil, until: nil, groupBy: grouping, labels: filter)
        let local = try reference.history(metric: "tokens", since: nil, until: nil, groupBy: grouping, labels: filter)
        #expect(shared == local, "\(grouping.rawValue) \(filter)")
      }
    }
    // And against hand sums: by conversation (the unlabelled change in the null group, last).
    let byConversation = try reader.history(metric: "tokens", since: nil, until: nil, groupBy: .label("conversation"))
    #expect(byConversation.map(\.group) == ["c-1", "c-2", nil])
    #expect(byConversation.map(\.total) == [195, 302, 7])
    #expect(byConversation.map(\.changes) == [3, 2, 1])
    #expect(byConversation[0].fields == [130, 65, 0, 0])
    #expect(byConversation[0].cost == 1.25)
    let byWeek = try reader.history(
      metric: "tokens", since: nil, until: nil, groupBy: .week, labels: ["provider": "openai"])
    #expect(byWeek.map(\.group) == ["2026-W45", "2026-W46"])
    #expect(byWeek.map(\.total) == [450, 32])
    let oneConversation = try reader.history(
      metric: "tokens", since: nil, until: nil, groupBy: .label("provider"), labels: ["conversation": "c-1"])
    #expect(oneConversation.map(\.group) == ["anthropic", "openai"])
    #expect(oneConversation.map(\.total) == [15, 180])
  }

  @Test("changes made offline carry their labels to PostgreSQL when the outbox is delivered")
  func offlineLabelsDelivered() throws {
    let postgres = try ThrowawayPostgres.shared()
    let account = ThrowawayPostgres.account()
    let local = try Self.local()
    let unreachable = "postgresql:///postgres?host=/nonexistent-usagectx&user=postgres"
    let labels = ["model": "gpt-4o", "provider": "openai", "conversation": "offline-1"]
    do {
      let offline = try Self.open(unreachable, account, local: local)
      try offline.begin(touching: ["tokens"], keys: [])
      offline.record(try Self.tokens(40, 2, cost: 0.5, day: "2026-11-04", labels: labels))
      offline.record(try Self.tokens(3, 0, cost: 0, day: "2026-11-04", labels: ["conversation": "offline-2"]))
      try offline.commit()
      #expect(offline.undeliveredCount == 2)
    }
    let online = try Self.open(postgres.url, account, local: local)
    try online.deliverWaiting()
    #expect(online.undeliveredCount == 0)
    let other = try Self.open(postgres.url, account)
    let rows = try other.history(metric: "tokens", since: nil, until: nil, groupBy: .label("conversation"))
    #expect(rows.map(\.group) == ["offline-1", "offline-2"])
    #expect(rows.map(\.total) == [42, 3])
    let filtered = try other.history(
      metric: "tokens", since: nil, until: nil, groupBy: .label("provider"), labels: ["conversation": "offline-1"])
    #expect(filtered.map(\.group) == ["openai"])
    #expect(filtered.first?.fields == [40, 2, 0, 0])
  }

  @Test("a database at schema version 1 is migrated: its changes keep no labels, new ones have theirs")
  func migratedFromVersionOne() throws {
    let postgres = try ThrowawayPostgres.shared()
    let admin = try PostgresConnection(url: postgres.url)
    let database = "usagectx_v1_\(UUID().uuidString.prefix(8).lowercased())"
    try admin.run("CREATE DATABASE \(database)")
    defer { _ = try? admin.run("DROP DATABASE \(database) WITH (FORCE)") }  // harmless: the cluster is thrown away
    let url = postgres.url + (postgres.url.contains("?") ? "&" : "?") + "dbname=\(database)"
    // Version 1 as it was released, with one change of its apply function's JSON (no labels).
    let old = try PostgresConnection(url: url)
    try old.run(
      "CREATE SCHEMA usagectx; CREATE TABLE usagectx.schema_version (version integer NOT NULL); BEGIN;\n"
        + PostgresSchema.versionOne + "\nINSERT INTO usagectx.schema_version VALUES (1); COMMIT;")
    try old.run(
      """
      INSERT INTO usagectx.accounts (name) VALUES ('old');
      SELECT usagectx.apply((SELECT id FROM usagectx.accounts WHERE name = 'old'), 'old-device',
        '[{"metric":"tokens","label":"gpt-4o","kind":0,"fields":[5,5],"cost":0.5,"priced":true,"events":1,
          "delta":10,"at":1793880000000}]'::jsonb, '[]'::jsonb, NULL);
      """)
    let ledger = try Self.open(url, "old")
    #expect(ledger.isOnline)
    let version = try old.run("SELECT max(version) FROM usagectx.schema_version")
    #expect(version.last?.rows.first?[0] == "2")
    try ledger.begin(touching: ["tokens"], keys: [])
    ledger.record(
      try Self.tokens(1, 1, cost: 0.25, day: "2026-11-05", labels: ["model": "gpt-4o", "conversation": "new"]))
    try ledger.commit()
    let byConversation = try ledger.history(metric: "tokens", since: nil, until: nil, groupBy: .label("conversation"))
    #expect(byConversation.map(\.group) == ["new", nil])
    #expect(byConversation.map(\.total) == [2, 10])
    let byModel = try ledger.history(metric: "tokens", since: nil, until: nil, groupBy: .model)
    #expect(byModel.map(\.group) == ["gpt-4o"])
    #expect(byModel.map(\.total) == [12])
    let stored = try old.run("SELECT count(*) FROM usagectx.changes WHERE labels IS NULL")
    #expect(stored.last?.rows.first?[0] == "1")
  }
}
