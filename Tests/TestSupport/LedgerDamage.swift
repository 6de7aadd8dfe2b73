import Foundation

/// Damage to a ledger's file such as a bad disk leaves behind, done with Python's sqlite3, for tests of what opening
/// a damaged ledger does.
public enum LedgerDamage {
  /// What was damaged and what `PRAGMA quick_check` says about it afterwards.
  public struct Report: Sendable {
    /// The page (numbered from 1) whose middle was overwritten.
    public var page: Int
    /// quick_check's first report, `ok` when it did not notice.
    public var quickCheck: String
  }

  /// Overwrites 64 bytes in the middle of the fullest leaf page of `table` in the database at `path` (never the
  /// file's 100-byte header) with 0xFF, cutting through its records. No connection may have the file open.
  public static func damage(_ path: String, table: String = "changes") throws -> Report {
    let lines = try python(
      """
      import sqlite3, sys
      path, table = sys.argv[1], sys.argv[2]
      def connect():
          return sqlite3.connect('file:' + path + '?mode=ro', uri=True)
      c = connect()
      size = c.execute('pragma page_size').fetchone()[0]
      page = c.execute(
          "select pageno from dbstat where name = ? and pagetype = 'leaf' order by ncell desc, pageno limit 1",
          (table,)).fetchone()[0]
      c.close()
      with open(path, 'r+b') as f:
          f.seek((page - 1) * size + size // 2 - 32)
          f.write(b'\\xff' * 64)
      print(page)
      print(connect().execute('pragma quick_check(5)').fetchone()[0].replace('\\n', ' | '))
      """, path, table)
    guard lines.count == 2, let page = Int(lines[0]) else { throw Failure(output: lines) }
    return Report(page: page, quickCheck: lines[1])
  }

  /// Runs a Python script with `arguments`; returns the lines it printed.
  public static func python(_ script: String, _ arguments: String...) throws -> [String] {
    let process = try SpawnedProcess("python3", ["-c", script] + arguments, stdout: .pipe)
    let data = try process.stdout?.readToEnd() ?? []
    let status = try process.wait().code
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    guard status == 0 else { throw Failure(output: lines) }
    return lines
  }

  /// The damage could not be done (no such table, no python3).
  public struct Failure: Error, CustomStringConvertible {
    public var output: [String]
    public var description: String { "could not damage the ledger: \(output.joined(separator: "\n"))" }
  }
}
