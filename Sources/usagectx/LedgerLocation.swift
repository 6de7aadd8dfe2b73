import ArgumentParser
import Glibc
import Ledger
import UsageCore

/// Finding and opening the ledger of a state directory for the commands that only read it (report, export).
enum LedgerLocation {
  /// `--since` and `--until` read as UTC dates or moments, in milliseconds.
  static func range(
    since: String?, until: String?, fail: (String) -> ExitCode
  ) throws(ExitCode) -> (since: Int64?, until: Int64?) {
    func moment(_ text: String?, _ option: String) throws(ExitCode) -> Timestamp? {
      guard let text else { return nil }
      guard let moment = Timestamp(iso8601: text) else {
        throw fail(
          "\(option) \"\(text)\" is not a UTC date or moment: write 2026-11-01, 2026-11-01T08:00:00Z or "
            + "2026-11-01T08:00:00.250Z")
      }
      return moment
    }
    let start = try moment(since, "--since")
    let end = try moment(until, "--until")
    if let start, let end, end <= start { throw fail("--until (\(end)) must be after --since (\(start))") }
    return (start?.milliseconds, end?.milliseconds)
  }

  /// The ledger in `state` (or the default state directory); exit 1 when there is none, 2 when it cannot be read.
  static func open(state: String?, command: String, fail: (String) -> ExitCode) throws(ExitCode) -> LedgerStore {
    let environment = ["XDG_STATE_HOME", "HOME"].reduce(into: [String: String]()) { values, name in
      values[name] = getenv(name).map { String(cString: $0) }
    }
    guard
      let directory = state.map(ReportCommand.trimmingSlashes) ?? LedgerStore.defaultDirectory(environment: environment)
    else {
      throw fail("no state directory: HOME is not set; pass --state DIR")
    }
    // LedgerStore creates what is missing, so look first.
    let path = directory + "/" + LedgerStore.fileName
    var status = stat()
    if stat(path, &status) != 0 && (errno == ENOENT || errno == ENOTDIR) {
      ReportCommand.writeAll(
        STDERR_FILENO, "usagectx \(command): no ledger at \(path): nothing has been recorded there\n")
      throw ExitCode(1)
    }
    do {
      return try LedgerStore(directory: directory)
    } catch {
      throw fail("\(error)")
    }
  }
}
