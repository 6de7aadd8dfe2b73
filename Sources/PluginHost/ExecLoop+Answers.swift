import JSON
import JSONRPC
import Logging
import Synchronization
import UsageCore

/// What the I/O thread does with the child's answers: descriptions, readings, and the outcomes of reports.
extension ExecLoop {
  func handleLine(_ line: [UInt8]) {
    guard line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
    let answer: ExecMessage.Answer
    switch ExecMessage.parseAnswer(line) {
    case .failure(let violation): return fail(violation.description)
    case .success(let parsed): answer = parsed
    }
    guard let pending = connection.state.withLock({ $0.pending.removeValue(forKey: answer.id) }) else {
      return fail("answered id \(answer.id), which usagectx is not waiting for")
    }
    switch (pending.kind, answer.outcome) {
    case (.describe(_, let options), .result(let result)):
      switch ExecDescription.parse(result, plugin: name, offered: connection.manifest.protocolVersion) {
      case .failure(let violation): fail("answered plugin/describe with an invalid result: \(violation)")
      case .success(let description): described(description, options: options, waiter: pending.waiter)
      }
    case (.describe(let purpose, _), .error(let error)):
      switch purpose {
      case .start: fail("refused its options: \(error.message)", refusal: error)
      case .restart: fail("refused its options on restart: \(error.message)")
      case .reconfigure:
        resetBackoff()
        connection.state.withLock { state in state.options = state.describedOptions ?? state.options }
        pending.waiter?.complete(.refused(error))
      }
    case (.fetch(let metric), .result(let result)):
      guard result.objectMembers != nil, let value = result["value"], value.number != nil, let count = value.int,
        count >= 0
      else {
        return fail(
          "answered metric/fetch for \(metric) without a non-negative integer value: \(result.jsonText.prefix(120))")
      }
      resetBackoff()
      pending.waiter?.complete(.value(count))
    case (.fetch, .error(let error)):
      resetBackoff()
      pending.waiter?.complete(.refused(error))
    case (.report(let changes, let batched), let outcome):
      reported(changes, batched: batched, outcome: outcome)
      pending.waiter?.complete(.done)
    }
  }

  /// The answer to one `metric/report` arrived: each change it carried is settled — accepted, refused for good, or to
  /// be sent again (see ``JSONRPC/RPCError/isTransient``). An answer that is not one breaks the protocol: its changes
  /// are lost (sent again by the outbox) and the child is restarted.
  private func reported(_ changes: [ExecState.Sent], batched: Bool, outcome: ExecMessage.Outcome) {
    var outcomes: [ReportOutcome] = []
    switch outcome {
    case .result(let result):
      switch Self.outcomes(of: result, count: changes.count, batched: batched, plugin: name) {
      case .success(let each): outcomes = each
      case .failure(let violation):
        let lost = ReportOutcome.lost("exec plugin \(name) \(violation.description)")
        connection.settle(changes.map { ExecState.Settled(metric: $0.metric, seq: $0.seq, outcome: lost) })
        return fail(violation.description)
      }
    case .error(let error):
      let metrics = Set(changes.map(\.metric)).sorted().joined(separator: ", ")
      if error.isTransient {
        logger.notice(
          "plugin \(name) did not take \(changes.count) changes to \(metrics) now (sent again later): \(error.message)")
      } else {
        logger.warning("plugin \(name) refused \(changes.count) changes to \(metrics) for good: \(error.message)")
      }
      outcomes = Array(repeating: error.reportOutcome(error.message), count: changes.count)
    }
    resetBackoff()
    let deadline = ExecClock.now() + timeout
    connection.state.withLock { state in
      state.reportsInFlight = max(0, state.reportsInFlight - 1)
      state.releaseHeldReports(deadline: deadline)
    }
    connection.settle(zip(changes, outcomes).map { ExecState.Settled(metric: $0.metric, seq: $0.seq, outcome: $1) })
  }

  /// The outcome of each change from a `metric/report` result: any object acknowledges the one change of a version-1
  /// report; a version-2 result is `{"results": [...]}` with one entry per change, in order — `{}` (or any object
  /// without `error`) accepted, `{"error": {code, message, data?}}` not.
  static func outcomes(
    of result: JSONData, count: Int, batched: Bool, plugin: String
  ) -> Result<[ReportOutcome], ProtocolViolation> {
    guard result.objectMembers != nil else {
      return .failure(ProtocolViolation("answered metric/report with \(result.jsonText.prefix(120)), not an object"))
    }
    guard batched else { return .success([.accepted]) }
    guard let results = result["results"]?.array, results.count == count else {
      return .failure(
        ProtocolViolation("answered metric/report without \"results\", an array of \(count) entries, one per change"))
    }
    var outcomes: [ReportOutcome] = []
    outcomes.reserveCapacity(count)
    for (index, entry) in results.enumerated() {
      guard entry.objectMembers != nil else {
        return .failure(ProtocolViolation("answered metric/report with results[\(index)] not an object"))
      }
      guard let error = entry["error"] else {
        outcomes.append(.accepted)
        continue
      }
      guard let code = error["code"]?.int, let message = error["message"]?.string else {
        return .failure(
          ProtocolViolation("answered metric/report with results[\(index)].error without an integer code and a message")
        )
      }
      let refusal = RPCError(RPCErrorCode(rawValue: Int(clamping: code)), message, data: error["data"])
      outcomes.append(refusal.reportOutcome(message))
    }
    return .success(outcomes)
  }

  /// A valid description arrived: the plugin is running (again).
  private func described(_ description: ExecDescription, options: ConfigValue, waiter: ExecWaiter?) {
    resetBackoff()
    let deadline = ExecClock.now() + timeout
    let (waiters, previous, restarted) = connection.state.withLock { state in
      let previous = state.description
      let restarted = state.phase == .restarting
      state.description = description
      state.describedOptions = options
      state.protocolVersion = description.protocolVersion
      if state.phase == .starting || state.phase == .restarting { state.phase = .running }
      state.releaseHeldReports(deadline: deadline)
      defer { state.startWaiters = [] }
      return (state.startWaiters, previous, restarted)
    }
    if restarted {
      logger.notice("plugin \(name): restarted")
      connection.reportHealth(nil)
      if let previous, previous.metricNames != description.metricNames {
        let now = description.metricNames.joined(separator: ", ")
        let before = previous.metricNames.joined(separator: ", ")
        logger.warning("plugin \(name): now describes metrics \(now) instead of \(before); metrics are fixed")
      }
    }
    for waiting in waiters { waiting.complete(.described(description)) }
    waiter?.complete(.described(description))
  }
}
