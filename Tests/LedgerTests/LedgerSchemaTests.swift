import Foundation
@testable import Ledger
import Testing
import TestSupport

/// A new ledger gets the latest schema in one step; it must be the schema every older ledger migrates to.
@Suite("Ledger schema")
struct LedgerSchemaTests {
  @Test("the schema a new ledger is created with equals the one every migration step leads to")
  func freshEqualsMigrated() throws {
    let directory = try LedgerStoreTests.directory()
    let fresh = try LedgerStore(directory: directory).path
    let steps = directory + "/steps.json"
    let json = try JSONSerialization.data(withJSONObject: LedgerStore.migrations)
    try json.write(to: URL(fileURLWithPath: steps))
    // Every table and index as SQLite keeps it, whitespace removed (ALTER TABLE splices its columns into the text).
    let script = """
      import json, re, sqlite3, sys
      def schema(connection):
          rows = connection.execute("select type, name, tbl_name, sql from sqlite_master order by name").fetchall()
          return [[t, n, tb, re.sub(r"\\s+", "", s or "")] for t, n, tb, s in rows]
      migrated = sqlite3.connect(":memory:")
      for step in json.load(open(sys.argv[2])):
          migrated.executescript(step)
      print(json.dumps(schema(sqlite3.connect(sys.argv[1]))))
      print(json.dumps(schema(migrated)))
      """
    let python = try SpawnedProcess("python3", ["-c", script, fresh, steps], stdout: .pipe)
    let output = String(decoding: try python.stdout?.readToEnd() ?? [], as: UTF8.self)
    #expect(try python.wait().exitStatus == 0)
    let lines = output.split(separator: "\n")
    try #require(lines.count == 2)
    #expect(lines[0] == lines[1])
    #expect(lines[0].contains("counters"))
  }
}
