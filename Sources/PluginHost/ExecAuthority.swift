import JSONRPC
import Synchronization
public import UsageCore

/// The authority for one metric held by an exec plugin: reading sends `metric/fetch` and waits for the answer (at
/// most the manifest's `timeoutMs`; at once with an error while the plugin is down), and a local change is passed on
/// as `metric/report` without waiting: its outcome goes, once, to the plugin's report observer
/// (``ExecPlugin/onReportOutcome(_:)``).
public struct ExecAuthority: Authority {
  /// The metric this authority answers for.
  public let metric: String
  let connection: ExecConnection

  init(metric: String, connection: ExecConnection) {
    self.metric = metric
    self.connection = connection
  }

  public var name: String { "exec plugin \(connection.name)" }

  public var isRemote: Bool { true }

  public func read() throws(AuthorityError) -> Int64 {
    switch connection.fetch(metric: metric) {
    case .value(let value):
      return value
    case .refused(let error):
      throw AuthorityError("\(name): \(error.message)", retryAfterMilliseconds: error.retryAfterMilliseconds)
    case .failed(let reason):
      throw AuthorityError("\(name) \(reason)")
    case .described, .done:
      throw AuthorityError("\(name) gave an answer that is not a value")
    }
  }

  public func report(_ change: ReportedChange) -> ReportReceipt {
    connection.report(metric: metric, change: change)
    return .pending
  }
}
