import Ledger
import Logging
import UsageCore

/// Notices changes other usagectx processes commit to the same ledger, a few times a second, and reads the metrics
/// they touched again, so every process's subscribers see them within a second without a refresh from the client.
///
/// - Important: Used on the session's loop thread only.
final class LedgerWatcher {
  /// How often the ledger is looked at by default.
  static let interval: Duration = .milliseconds(250)
  /// How often this watcher looks.
  private let lookInterval: Duration

  private let ledger: DurableLedger
  private let context: UsageContext
  private let synchronizer: Synchronizer
  private let logger: Logger
  private let clock = ContinuousClock()
  /// When to look next.
  private(set) var nextLook: ContinuousClock.Instant?

  init(
    ledger: DurableLedger, context: UsageContext, synchronizer: Synchronizer, logger: Logger,
    interval: Duration = LedgerWatcher.interval
  ) {
    self.ledger = ledger
    self.logger = logger
    self.context = context
    self.synchronizer = synchronizer
    lookInterval = interval
    nextLook = clock.now + interval
    nextRollUp = clock.now + .seconds(5)
  }

  /// When to roll up the next day of the change log past its retention: a few seconds after the start, then a day
  /// per second while there are days to roll up, then hourly.
  private var nextRollUp: ContinuousClock.Instant

  /// Rolls up one day of the change log past its retention when it is time (see ``DurableLedger/rollUpOldestDay()``).
  private func rollUpIfDue() {
    guard clock.now >= nextRollUp else { return }
    do {
      let more = try ledger.rollUpOldestDay()
      nextRollUp = clock.now + (more ? .seconds(1) : .seconds(3_600))
    } catch {
      logger.error("the change log could not be rolled up: \(error)")
      nextRollUp = clock.now + .seconds(3_600)
    }
  }

  /// Metrics another process changed whose fields, cost and breakdown are still to be summed again.
  private var detailToRestore: Set<String> = []

  /// Looks when it is time: reads the metrics another process changed, and sums their detail (fields, cost,
  /// breakdown) again from the ledger once this process has nothing of its own waiting to be committed.
  func lookIfDue() {
    guard let due = nextLook, clock.now >= due else { return }
    nextLook = clock.now + lookInterval
    rollUpIfDue()
    let changed: Set<String>
    do {
      changed = try ledger.absorbOthers()
    } catch {
      logger.error("other processes' changes could not be read: \(error)")
      return
    }
    detailToRestore.formUnion(changed)
    if !detailToRestore.isEmpty && !ledger.hasPending {
      context.restoreDetail(detailToRestore)
      detailToRestore = []
    }
    guard !changed.isEmpty else { return }
    synchronizer.readNow(changed.compactMap { context.index(ofMetric: $0) })
  }
}
