import Dispatch
import JSONRPC
import Synchronization

/// How a request to an exec plugin ended, as its caller sees it.
enum ExecOutcome: Sendable {
  /// `plugin/describe` answered with a valid description.
  case described(ExecDescription)
  /// `metric/fetch` answered with a value.
  case value(Int64)
  /// `metric/report` was acknowledged.
  case done
  /// The plugin answered with a JSON-RPC error: it is working, but refused this request.
  case refused(RPCError)
  /// No valid answer: the child failed (exited, hung, wrote garbage) or was stopped.
  case failed(String)
}

/// A caller waiting for the answer to one request. The first outcome delivered wins.
final class ExecWaiter: Sendable {
  private let semaphore = DispatchSemaphore(value: 0)
  private let outcome = Mutex<ExecOutcome?>(nil)

  /// Delivers the outcome and wakes the caller.
  func complete(_ result: ExecOutcome) {
    let first = outcome.withLock { current -> Bool in
      guard current == nil else { return false }
      current = result
      return true
    }
    if first { semaphore.signal() }
  }

  /// The outcome, waiting up to `milliseconds`; `nil` when none came in time.
  func wait(milliseconds: Int64) -> ExecOutcome? {
    _ = semaphore.wait(timeout: .now() + .milliseconds(Int(max(0, milliseconds))))
    return outcome.withLock { $0 }
  }
}
