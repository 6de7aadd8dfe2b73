import Foundation

/// Another process holding an SQLite database's write lock (`BEGIN IMMEDIATE` from Python's sqlite3) until it is
/// released or the holder is deinitialised, for tests of what happens when the ledger is locked.
public final class DatabaseLock {
  private let holder: SpawnedProcess

  /// Takes the lock on the database at `path`; returns once it is held.
  public init(path: String) throws {
    let arguments = [
      "-c",
      """
      import sqlite3, sys, time
      c = sqlite3.connect(sys.argv[1], isolation_level=None)
      c.execute('begin immediate')
      print('locked', flush=True)
      time.sleep(60)
      """,
      path,
    ]
    holder = try SpawnedProcess("python3", arguments, stdout: .pipe)
    // The first bytes of "locked" (or end of file, should python3 fail). The pipe stays open while the holder runs:
    // the rest of the line may come in a write of its own, and a closed pipe would end python3 there.
    _ = try holder.stdout?.read(timeout: .infinity)
  }

  /// Lets go of the lock (the holder is killed: a signal it could ignore would not do).
  public func release() {
    // Without a grace period: SIGKILL at once, then the holder is reaped.
    holder.end()
  }

  deinit { release() }
}
