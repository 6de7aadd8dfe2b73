import JSONRPC
import Ledger
import Logging
import UsageCore

/// Commits the durable ledger's changes for the session: at the end of each burst (before its answers are written),
/// or on the loop's next turn with `--ack memory`. A commit that fails leaves its changes out of the ledger, so every
/// metric is read again at once and shows what is durable.
///
/// - Important: Used on the session's loop thread only.
final class LedgerCommitter {
  let ledger: DurableLedger
  private let synchronizer: Synchronizer
  private let logger: Logger
  private var scheduled = false
  /// Called after every commit, successful or not (the outbox sends what was written).
  private let afterCommit: () -> Void

  init(ledger: DurableLedger, synchronizer: Synchronizer, logger: Logger, afterCommit: @escaping () -> Void = {}) {
    self.ledger = ledger
    self.synchronizer = synchronizer
    self.logger = logger
    self.afterCommit = afterCommit
  }

  /// What a commit came to.
  enum Outcome {
    case committed
    case failed(LedgerError)
  }

  /// Commits now; on failure logs why and reads the metrics again so they show what is durable.
  @discardableResult
  func commit() -> Outcome {
    defer { afterCommit() }
    do throws(LedgerError) {
      try ledger.commit()
      return .committed
    } catch {
      logger.error("changes not written: \(error)")
      // The metrics the ledger holds are read again at once (the ledger took the changes back); those of remote
      // authorities settle their changes through the outbox.
      synchronizer.readNow(synchronizer.context.metricNames.indices.filter {
        synchronizer.context.authority(ofMetric: $0) is LedgerAuthority
      })
      return .failed(error)
    }
  }

  /// Commits on the loop's next turn, after this burst's answers were written.
  func commitSoon(_ jobs: JobQueue) {
    guard !scheduled, ledger.hasPending else { return }
    scheduled = true
    let reference = LoopBound(self)
    jobs.post {
      guard let committer = reference.value else { return }
      committer.scheduled = false
      _ = committer.commit()
    }
  }
}
