import Glibc

extension LedgerStore {
  /// Creates the ledger's file, empty and with mode 0600 whatever the umask, when it is missing: SQLite gives the
  /// `-wal` and `-shm` files the mode of the database, so all three are the user's alone. An existing file is left
  /// as it is, mode included.
  static func createPrivateFile(_ path: String) throws(LedgerError) {
    let descriptor = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
      if errno == EEXIST { return }
      throw .cannotOpen(path: path, reason: String(cString: strerror(errno)))
    }
    defer { close(descriptor) }
    // The umask may have taken bits away from 0600.
    guard fchmod(descriptor, 0o600) == 0 else {
      throw .cannotOpen(path: path, reason: "cannot make it private: \(String(cString: strerror(errno)))")
    }
  }
}
