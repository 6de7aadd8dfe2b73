import Foundation
import JSON
import TestSupport
import Testing

/// `usagectx report` run as a person or a script would: a ledger on disk, the binary, its stdout, stderr and exit
/// status.
@Suite("usagectx report")
struct ReportTests {
  /// One change as the ledger stores it.
  struct Change {
    var metric: String
    var delta: Int64
    var at: Int64
    var label: String? = nil
    var key: String? = nil
  }

  /// A fresh path under the temporary directory (not created).
  static func directory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-report-\(UUID().uuidString)").path
  }

  /// Writes a ledger into `directory` with Python's sqlite3, as the ledger's first migration lays it out (schema
  /// version 1, application id "USCX"); a later usagectx migrates it when it opens it.
  static func writeLedger(in directory: String, _ changes: [Change]) throws {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let rows: [[Any]] = changes.map { [$0.metric, $0.delta, $0.at, $0.key ?? NSNull(), $0.label ?? NSNull()] }
    let json = String(decoding: try JSONSerialization.data(withJSONObject: rows), as: UTF8.self)
    let script = """
      import json, sqlite3, sys
      c = sqlite3.connect(sys.argv[1])
      c.executescript('''
        CREATE TABLE changes (
          id INTEGER PRIMARY KEY,
          metric TEXT NOT NULL,
          delta INTEGER NOT NULL,
          at_ms INTEGER NOT NULL,
          day INTEGER NOT NULL,
          key TEXT,
          label TEXT
        );
        CREATE INDEX changes_by_metric_day ON changes (metric, day);
        PRAGMA user_version = 1;
        PRAGMA application_id = %d;
      ''' % 0x55534358)
      c.executemany(
        'INSERT INTO changes (metric, delta, at_ms, day, key, label) VALUES (?, ?, ?, ?, ?, ?)',
        [(m, d, at, at // 86400000, k, l) for m, d, at, k, l in json.loads(sys.argv[2])])
      c.commit()
      """
    let python = try SpawnedProcess("python3", ["-c", script, directory + "/usage.sqlite3", json])
    #expect(try python.wait().code == 0)
  }

  /// 2026-01-31T23:59:59.999Z and 2026-02-01T00:00:00Z: the last millisecond of January, the first of February.
  static let lastOfJanuary: Int64 = 1_769_903_999_999
  static let firstOfFebruary: Int64 = 1_769_904_000_000

  /// Tokens for three models (one name needing CSV quotes), some without a model, a refund, and requests.
  static let changes: [Change] = [
    Change(metric: "tokens", delta: 1200, at: lastOfJanuary, label: "gpt-4o"),
    Change(metric: "tokens", delta: 300, at: firstOfFebruary, label: #"local "q4", 7b"#),
    Change(metric: "tokens", delta: -100, at: firstOfFebruary + 1, label: "gpt-4o", key: "refund-1"),
    Change(metric: "tokens", delta: 40, at: firstOfFebruary + 2, label: "claude"),
    Change(metric: "tokens", delta: 5, at: firstOfFebruary + 3),
    Change(metric: "requests", delta: 2, at: lastOfJanuary),
    Change(metric: "requests", delta: 1, at: firstOfFebruary),
  ]

  @Test("--by model --format csv: a header, one row per metric and model, RFC 4180 quoting, CRLF line ends")
  func csvByModel() throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let run = try OneShotCommand.run(["report", "--state", directory, "--by", "model", "--format", "csv"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(
      run.stdout
        == "metric,model,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\n"
        + "requests,,3,2,,,,,,\r\n"
        + "tokens,claude,40,1,0,0,0,0,0,USD\r\n"
        + "tokens,gpt-4o,1100,2,0,0,0,0,0,USD\r\n"
        + "tokens,\"local \"\"q4\"\", 7b\",300,1,0,0,0,0,0,USD\r\n"
        + "tokens,,5,1,0,0,0,0,0,USD\r\n")
    #expect(run.stderr == "")
  }

  @Test("--by day and --by month split the last millisecond of January from midnight of February 1")
  func csvByDayAndMonth() throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let days = try OneShotCommand.run(["report", "--state", directory, "--format", "csv"])
    #expect(days.status == 0, "\(days.stderr)")
    #expect(
      days.stdout
        == "metric,day,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\n"
        + "requests,2026-01-31,2,1,,,,,,\r\n"
        + "requests,2026-02-01,1,1,,,,,,\r\n"
        + "tokens,2026-01-31,1200,1,0,0,0,0,0,USD\r\n"
        + "tokens,2026-02-01,245,4,0,0,0,0,0,USD\r\n")
    let months = try OneShotCommand.run(
      ["report", "--state", directory, "--by", "month", "--format", "csv", "--metric", "tokens"])
    #expect(months.status == 0, "\(months.stderr)")
    #expect(
      months.stdout
        == "metric,month,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\n"
        + "tokens,2026-01,1200,1,0,0,0,0,0,USD\r\ntokens,2026-02,245,4,0,0,0,0,0,USD\r\n")
  }

  @Test("--since is inclusive and --until exclusive, as dates or as moments to the millisecond")
  func bounds() throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let january = try OneShotCommand.run(
      [
        "report", "--state", directory, "--format", "csv", "--since", "2026-01-31T23:59:59.999Z", "--until",
        "2026-02-01",
      ])
    #expect(
      january.stdout
        == "metric,day,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\nrequests,2026-01-31,2,1,,,,,,\r\n"
        + "tokens,2026-01-31,1200,1,0,0,0,0,0,USD\r\n")
    let february = try OneShotCommand.run(
      [
        "report", "--state", directory, "--format", "csv", "--by", "model", "--metric", "tokens",
        "--since", "2026-02-01T00:00:00.001Z",
      ])
    #expect(
      february.stdout
        == "metric,model,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\ntokens,claude,40,1,0,0,0,0,0,USD\r\n"
        + "tokens,gpt-4o,-100,1,0,0,0,0,0,USD\r\ntokens,,5,1,0,0,0,0,0,USD\r\n")
    let nothing = try OneShotCommand.run(["report", "--state", directory, "--format", "csv", "--since", "2026-03-01"])
    #expect(nothing.status == 0)
    #expect(nothing.stdout == "metric,day,total,changes\r\n")
  }

  @Test("--format json is one object: groupBy and rows of metric, group (null without a model), total, changes")
  func json() throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let run = try OneShotCommand.run(["report", "--state", directory, "--by", "model", "--format", "json"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout.hasSuffix("}\n"))
    let report = try JSONData(parsing: run.stdout)
    #expect(report["groupBy"] == "model")
    let rows = try #require(report["rows"]?.array)
    #expect(rows.count == 5)
    #expect(rows[0] == ["metric": "requests", "group": nil, "total": 3, "changes": 2])
    #expect(
      rows[3] == [
        "metric": "tokens", "group": #"local "q4", 7b"#, "total": 300, "changes": 1, "input": 0, "output": 0,
        "cacheRead": 0,
        "cacheWrite": 0, "cost": 0, "currency": "USD",
      ])
    let empty = try OneShotCommand.run(["report", "--state", directory, "--format", "json", "--metric", "documents"])
    #expect(try JSONData(parsing: empty.stdout) == ["groupBy": "day", "rows": []])
  }

  @Test("the table: aligned columns, numbers on the right, (none) for changes without a model")
  func table() throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let run = try OneShotCommand.run(["report", "--state", directory, "--by", "model", "--metric", "tokens"])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(
      run.stdout == """
        METRIC  MODEL           TOTAL  CHANGES  INPUT  OUTPUT  CACHEREAD  CACHEWRITE   COST
        tokens  claude             40        1      0       0          0           0  0 USD
        tokens  gpt-4o           1100        2      0       0          0           0  0 USD
        tokens  local "q4", 7b    300        1      0       0          0           0  0 USD
        tokens  (none)              5        1      0       0          0           0  0 USD

        """)
  }

  @Test("without --state the ledger is read from $XDG_STATE_HOME/usagectx")
  func defaultStateDirectory() throws {
    let root = Self.directory()
    try Self.writeLedger(in: root + "/usagectx", Self.changes)
    let run = try OneShotCommand.run(
      ["report", "--by", "month", "--format", "csv", "--metric", "requests"], environment: ["XDG_STATE_HOME": root])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout == "metric,month,total,changes\r\nrequests,2026-01,2,1\r\nrequests,2026-02,1,1\r\n")
  }

  @Test("no ledger: exit 1, a message naming the path on stderr, nothing on stdout, and nothing created")
  func missingLedger() throws {
    let directory = Self.directory()
    let run = try OneShotCommand.run(["report", "--state", directory])
    #expect(run.status == 1)
    #expect(run.stdout == "")
    #expect(run.stderr.contains(directory + "/usage.sqlite3"))
    #expect(!FileManager.default.fileExists(atPath: directory))

    let root = Self.directory()
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    let byDefault = try OneShotCommand.run(["report", "--format", "csv"], environment: ["XDG_STATE_HOME": root])
    #expect(byDefault.status == 1)
    #expect(byDefault.stdout == "")
    #expect(byDefault.stderr.contains(root + "/usagectx/usage.sqlite3"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: root) == [])
  }

  @Test(
    "bad option values exit 2 with a message on stderr and nothing on stdout",
    arguments: [
      (["--since", "2026-13-01"], "--since"),
      (["--since", "yesterday"], "--since"),
      (["--until", "2026-02-30"], "--until"),
      (["--since", "2026-02-01", "--until", "2026-01-01"], "--until"),
      (["--by", ""], "--by"),
      (["--label", "conversation"], "--label"),
      (["--format", "xml"], "--format"),
    ])
  func badOptions(arguments: [String], named option: String) throws {
    let directory = Self.directory()
    try Self.writeLedger(in: directory, Self.changes)
    let run = try OneShotCommand.run(["report", "--state", directory] + arguments)
    #expect(run.status == 2)
    #expect(run.stdout == "")
    #expect(run.stderr.contains(option))
  }

  @Test("a file that is not a ledger: exit 2, its path on stderr, the file left as it was")
  func notALedger() throws {
    let directory = Self.directory()
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = directory + "/usage.sqlite3"
    let text = Data("not a database, just some notes\n".utf8)
    try text.write(to: URL(fileURLWithPath: path))
    let run = try OneShotCommand.run(["report", "--state", directory])
    #expect(run.status == 2)
    #expect(run.stdout == "")
    #expect(run.stderr.contains(path))
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == text)
  }
}
