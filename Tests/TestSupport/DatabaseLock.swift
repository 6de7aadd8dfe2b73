import Foundation

/// Another process holding an SQLite database's write lock (`BEGIN IMMEDIATE` from Python's sqlite3) until it is
/// released or the holder is deinitialised, for tests of what happens when the ledger is locked.
public final class DatabaseLock {
  private let holder = Process()

  /// Takes the lock on the database at `path`; returns once it is held.
  public init(path: String) throws {
    holder.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    holder.arguments = [
      "python3", "-c",
      """
      import sqlite3, sys, time
      c = sqlite3.connect(sys.argv[1], isolation_level=None)
      c.execute('begin immediate')
      print('locked', flush=True)
      time.sleep(60)
      """,
      path,
    ]
    let output = Pipe()
    holder.standardOutput = output
    try holder.run()
    _ = output.fileHandleForReading.availableData
  }

  /// Lets go of the lock (the holder is killed: a signal it could ignore would not do).
  public func release() {
    guard holder.isRunning else { return }
    kill(holder.processIdentifier, SIGKILL)
    holder.waitUntilExit()
  }

  deinit { release() }
}
