import Foundation
import Ledger
import Postgres
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
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-pg-\(UUID().uuidString)").path
    return try DurableLedger(store: try LedgerStore(directory: directory))
  }

  static func open(_ url: String, _ account: String, local: DurableLedger? = nil) throws -> SharedLedger {
    SharedLedger(local: try local ?? Self.local(), url: url, account: account, device: "test", session: UUID().uuidString)
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
}
