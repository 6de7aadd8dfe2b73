import JSON
import JSONRPC
import Logging
import UsageCore

/// Decides the session's changes inside transactions of the ledger and answers them once committed.
///
/// With `--ack commit` (a durable ledger's default) the changes of a burst wait in a queue (``submit(_:reply:)``);
/// ``commitQueued()`` (at the end of the burst, before any request answered at once, and when the session ends) opens
/// one transaction, decides each change in order against the ledger's committed state — its idempotency key, its limit, the 64-bit
/// range — records it, commits, and only then answers them and sends the notifications they caused. A transaction
/// that cannot be opened or committed changes nothing: the context goes back to where it was and each change it held
/// is answered `-32051 Not recorded`. Otherwise (`--ack memory`, or no durable ledger) each change is decided and
/// answered at once (``decideNow(_:into:)``), and a durable ledger commits after the burst's answers were written
/// (``commitSoon(_:)``).
///
/// - Important: Used on the session's loop thread only.
final class ChangeCommitter {
  /// What deciding one change came to.
  enum Outcome {
    /// Applied: where its answer was written (in the writer given to the decision) and the threshold it crossed.
    case applied(Range<Int>, ThresholdCrossing?, metric: Int)
    /// Its key was used before with the same params: the answer given then.
    case kept([UInt8])
    case refused(RPCError)
  }

  let context: UsageContext
  let ledger: any UsageLedger
  private let dispatcher: Dispatcher
  private let logger: Logger
  /// Whether answers wait for the commit (`--ack commit` with a durable ledger).
  let waitsForCommit: Bool
  /// Changes waiting for the burst's transaction, and requests for changes already refused (bad params), which wait
  /// with them so that answers keep the order of the requests.
  private var queue: [(change: Result<ChangeRequest, RPCError>, reply: PendingReply)] = []
  private var commitScheduled = false
  /// Told of each applied change once it holds: its threshold crossing, and its metric (read again after the
  /// debounce).
  var applied: (ThresholdCrossing?, Int) -> Void = { _, _ in }
  /// Whether a change to the metric at this index may be made now; an error refuses it before it is applied (a full
  /// outbox).
  var admits: (Int) -> RPCError? = { _ in nil }
  /// Called after every commit, successful or not (the outbox sends what was written).
  var afterCommit: () -> Void = {}
  /// Called when a commit after the answers failed (`--ack memory`): the ledger took the changes back, so the
  /// metrics it holds are read again.
  var lostAfterAnswer: () -> Void = {}

  init(context: UsageContext, ledger: any UsageLedger, dispatcher: Dispatcher, waitsForCommit: Bool, logger: Logger) {
    self.context = context
    self.ledger = ledger
    self.dispatcher = dispatcher
    self.waitsForCommit = waitsForCommit
    self.logger = logger
  }

  /// Queues a change for the burst's transaction (``commitQueued()`` answers it).
  func submit(_ change: ChangeRequest, reply: PendingReply) {
    queue.append((.success(change), reply))
  }

  /// Decides a change now and writes its answer into `result` (the handler's, so the answer goes out in the request's
  /// place without waiting): for sessions whose answers do not wait for a commit.
  func decideNow(_ change: ChangeRequest, into result: inout JSONWriter) throws(RPCError) {
    switch decide(change, into: &result) {
    case .applied(_, let crossing, let metric): applied(crossing, metric)
    case .kept(let answer): answer.withUnsafeBytes { result.rawValue($0) }
    case .refused(let error): throw error
    }
  }

  /// Answers a change request refused before it could be decided (its params), in its turn among the changes.
  func refuse(_ error: RPCError, reply: PendingReply) {
    if !queue.isEmpty {
      queue.append((.failure(error), reply))
      return
    }
    dispatcher.reject(reply, error)
  }

  /// The answers of the transaction being decided, one after another (their places in ``Outcome/applied``); kept
  /// with its capacity from burst to burst, like the queue, so a burst allocates nothing in proportion to its size.
  private var answers = JSONWriter(capacity: 64 * 1024)
  private var outcomes: [Outcome] = []
  private var spare: [(change: Result<ChangeRequest, RPCError>, reply: PendingReply)] = []

  /// Decides the queued changes in one transaction, commits, then answers them. With nothing queued, writes what
  /// else waits (outbox acknowledgements, readings) when `pendingToo` (at the end of a burst).
  func commitQueued(pendingToo: Bool = true) {
    guard waitsForCommit else { return }
    guard !queue.isEmpty else {
      if pendingToo { commitPending() }
      return
    }
    var batch = spare
    swap(&batch, &queue)
    defer {
      batch.removeAll(keepingCapacity: true)
      spare = batch
      outcomes.removeAll(keepingCapacity: true)
      answers.reset()
    }
    let checkpoint = context.checkpoint()
    var touched = Set<String>()
    var keys: [String] = []
    var seen = [Bool](repeating: false, count: context.metricNames.count)
    for item in batch {
      if case .success(let change) = item.change, let key = change.key { keys.append(key) }
      guard case .success(let change) = item.change, !seen[change.metric] else { continue }
      seen[change.metric] = true
      touched.insert(context.metricNames[change.metric])
    }
    do throws(CommitError) {
      try ledger.begin(touching: touched, keys: keys)
    } catch {
      logger.error("changes not written: \(error)")
      for item in batch {
        switch item.change {
        case .success: dispatcher.reject(item.reply, .notRecorded(error.description))
        case .failure(let refusal): dispatcher.reject(item.reply, refusal)
        }
      }
      afterCommit()
      return
    }
    for item in batch {
      switch item.change {
      case .success(let change): outcomes.append(decide(change, into: &answers))
      case .failure(let refusal): outcomes.append(.refused(refusal))
      }
    }
    do throws(CommitError) {
      try ledger.commit()
    } catch {
      context.restore(checkpoint)
      logger.error("\(batch.count) changes not written: \(error)")
      for (item, outcome) in zip(batch, outcomes) {
        if case .applied = outcome {
          dispatcher.reject(item.reply, .notRecorded(error.description))
        } else {
          answer(item.reply, outcome)
        }
      }
      afterCommit()
      return
    }
    // The answers first (a batch's array is complete), then what the changes caused.
    for (item, outcome) in zip(batch, outcomes) { answer(item.reply, outcome) }
    for outcome in outcomes {
      if case .applied(_, let crossing, let metric) = outcome { applied(crossing, metric) }
    }
    afterCommit()
  }

  /// Commits what waits outside a burst's transaction (acknowledgements, readings, `--ack memory` changes).
  func commitPending() {
    do throws(CommitError) {
      try ledger.commit()
    } catch {
      logger.error("changes not written: \(error)")
      lostAfterAnswer()
    }
    afterCommit()
  }

  /// Commits on the loop's next turn, after this burst's answers were written (`--ack memory`).
  func commitSoon(_ jobs: JobQueue) {
    guard !commitScheduled else { return }
    commitScheduled = true
    let reference = LoopBound(self)
    jobs.post {
      guard let committer = reference.value else { return }
      committer.commitScheduled = false
      committer.commitPending()
    }
  }

  private func answer(_ reply: PendingReply, _ outcome: Outcome) {
    switch outcome {
    case .applied(let range, _, _):
      answers.withBytes { bytes in
        dispatcher.resolve(reply) { $0.rawValue(UnsafeRawBufferPointer(rebasing: bytes[range])) }
      }
    case .kept(let answer):
      dispatcher.resolve(reply) { writer in answer.withUnsafeBytes { writer.rawValue($0) } }
    case .refused(let error):
      dispatcher.reject(reply, error)
    }
  }

  /// Decides one change: the answer kept under its key, or the change applied to the context (which records it
  /// with the metric's authority) and its answer kept under its key.
  /// The answer of an applied change is written into `writer`; nothing else is.
  private func decide(_ change: ChangeRequest, into writer: inout JSONWriter) -> Outcome {
    if let key = change.key {
      do throws(CommitError) {
        if let kept = try ledger.keptAnswer(key) {
          guard kept.fingerprint == change.fingerprint else {
            return .refused(
              .invalidParams(field: "key", "was already used with different parameters", value: .string(key)))
          }
          return .kept(kept.answer)
        }
      } catch {
        // Without knowing whether the key was used, applying the change could count it twice.
        return .refused(.notRecorded("the idempotency key could not be looked up: \(error)"))
      }
    }
    if case .reset(let label?) = change.operation, !label.isEmpty {
      // A breakdown entry's reset is a display baseline: nothing goes to the authority.
    } else if let refusal = admits(change.metric) {
      return .refused(refusal)
    }
    let result: MutationResult
    do throws(UsageError) {
      switch change.operation {
      case .increment(let amount, let fields, let labels, let enforce):
        result = try context.increment(
          metric: change.metric, amount: amount, fields: fields, labels: labels, enforce: enforce, key: change.key)
      case .decrement(let amount):
        result = try context.decrement(metric: change.metric, amount: amount, key: change.key)
      case .reset(let label):
        result = try context.reset(metric: change.metric, breakdownKey: label)
      }
    } catch {
      return .refused(RPCError(error))
    }
    let start = writer.count
    writer.truncate(to: start)  // a value of its own: no separator before it
    writer.metricState(result.state, withSync: false, authority: ledger.answeringAuthority)
    let range = start..<writer.count
    if let key = change.key {
      let answer = writer.withBytes { Array($0[range]) }
      ledger.keep(KeptAnswer(key: key, fingerprint: change.fingerprint, answer: answer, at: context.now().milliseconds))
    }
    return .applied(range, result.crossing, metric: change.metric)
  }
}
