import Glibc
import JSONRPC
import Logging
import Synchronization
import UsageCore

/// How the I/O thread fails a child (kill, reap, restart later) and stops one on shutdown.
extension ExecLoop {
  /// The child stopped talking (end of stdout, or its stdin closed): reports how it ended, then fails it.
  func childEnded(hint: String) {
    readErrors()
    let giveUp = ExecClock.now() + Self.exitGraceMilliseconds
    var status = child?.reap(blocking: false)
    while status == nil && ExecClock.now() < giveUp {
      usleep(5_000)
      status = child?.reap(blocking: false)
    }
    if status != nil { reaped = true }
    let waitingFor = connection.state.withLock { state in
      state.pending.min { $0.key < $1.key }?.value.method
    }
    let ending = status.map(ChildProcess.describe(status:)) ?? hint
    fail(ending + (waitingFor.map { " before answering \($0)" } ?? ""))
  }

  /// Kills and reaps the child, fails every request waiting for it, and either schedules a restart (a plugin that
  /// had served) or fails the plugin for good (a first start). `refusal` is what start waiters are told when the
  /// plugin refused its options.
  func fail(_ reason: String, refusal: RPCError? = nil) {
    terminateChild()
    enum Next { case restart, failed, nothing }
    let (next, waiters, lost) = connection.state.withLock { state -> (Next, [ExecWaiter], [ExecState.Settled]) in
      let waiters = state.pending.values.compactMap(\.waiter) + state.startWaiters
      var lost = state.takeReportsInFlight(
        .lost("exec plugin \(name) failed before acknowledging the report: \(reason)"))
      state.pending.removeAll()
      state.outgoing.removeAll()
      state.startWaiters = []
      switch state.phase {
      case .starting:
        state.lastError = reason
        state.phase = .failed
        // Nothing will send the reports held since the start.
        lost += state.loseHeldReports("exec plugin \(name) failed to start: \(reason)")
        return (.failed, waiters, lost)
      case .running, .restarting:
        state.lastError = reason
        state.phase = .restarting
        return (.restart, waiters, lost)
      default:
        return (.nothing, waiters, lost)
      }
    }
    switch next {
    case .restart:
      let delay = nextRestartDelay()
      restartAt = ExecClock.now() + delay
      logger.error("plugin \(name) \(reason); restarting in \(delay) ms")
      connection.reportHealth("plugin \(name) \(reason); restarting")
    case .failed:
      logger.debug("plugin \(name) failed to start: \(reason)")
    case .nothing:
      break
    }
    if !lost.isEmpty {
      logger.warning("plugin \(name): \(lost.count) metric/report not acknowledged; may be lost")
    }
    for waiter in waiters { waiter.complete(refusal.map(ExecOutcome.refused) ?? .failed(reason)) }
    connection.settle(lost)
  }

  /// Kills the child's process group and the child, reaps it, logs its last stderr lines and closes the pipes.
  func terminateChild() {
    guard let current = child else { return }
    current.signalGroup(SIGKILL)
    if !reaped {
      current.signalProcess(SIGKILL)
      _ = current.reap(blocking: true)
    }
    readErrors()
    finishErrors()
    child?.closeAll()
    child = nil
    reaped = false
    writeBuffer.removeAll()
    writeOffset = 0
    output = NewlineFramer(maxMessageBytes: Self.maxLineBytes)
  }

  // MARK: - Shutting down

  /// Fails waiting requests, writes the reports still queued (if the child is running; up to 0.5 s), then stops
  /// the child: stdin closed, 1 s to exit, SIGTERM, 1 s, SIGKILL; reaps it.
  func stopChild() {
    let running = child != nil
    let unanswered = "exec plugin \(name) was stopped before acknowledging the report"
    let (waiters, unsent, lost) = connection.state.withLock { state in
      let waiters = state.pending.values.compactMap(\.waiter) + state.startWaiters
      // Answers are not read any more: what is in flight, or written now, is never acknowledged.
      var lost = state.takeReportsInFlight(.lost(unanswered))
      var unsent = state.heldCount
      if running && state.description != nil {
        // Written in one go: the requests' answers are not read any more.
        let version = state.protocolVersion
        let perRequest = version >= 2 ? ExecMessage.maxChangesPerReport : 1
        var start = state.heldStart
        while start < state.heldReports.count {
          let end = min(state.heldReports.count, start + perRequest)
          let id = state.nextID
          state.nextID += 1
          let changes = state.heldReports[start..<end]
          if version >= 2 {
            state.outgoing += ExecMessage.reportBatch(id: id, changes: changes)
          } else {
            let change = changes[start].change
            state.outgoing += ExecMessage.report(
              id: id, metric: changes[start].metric, seq: change.seq, delta: change.delta, key: change.key)
          }
          start = end
        }
        unsent = 0
        lost += state.loseHeldReports(unanswered)
      } else {
        lost += state.loseHeldReports("exec plugin \(name) was stopped before the report was sent")
      }
      state.pending.removeAll()
      state.startWaiters = []
      if running { writeBuffer += state.outgoing }
      state.outgoing.removeAll()
      return (waiters, unsent, lost)
    }
    for waiter in waiters { waiter.complete(.failed("is stopped")) }
    if unsent > 0 { logger.warning("plugin \(name): stopped with \(unsent) metric/report not sent") }
    connection.settle(lost)
    guard child != nil else { return }
    finishWriting(milliseconds: Self.finalWriteMilliseconds)
    child?.closeInput()
    if !waitForExit(milliseconds: Self.shutdownGraceMilliseconds) {
      child?.signalGroup(SIGTERM)
      child?.signalProcess(SIGTERM)
      if !waitForExit(milliseconds: Self.shutdownGraceMilliseconds) {
        logger.warning("plugin \(name): did not stop on SIGTERM; killing it")
      }
    }
    terminateChild()
  }

  /// Writes what is left in the buffer, waiting up to `milliseconds` for the child to read it (and reading its
  /// output meanwhile, so that neither side blocks the other).
  private func finishWriting(milliseconds: Int64) {
    let deadline = ExecClock.now() + milliseconds
    while let input = child?.input, input >= 0, writeOffset < writeBuffer.count {
      flushWrites()
      let remaining = deadline - ExecClock.now()
      guard writeOffset < writeBuffer.count, child != nil, remaining > 0 else { break }
      var descriptors = [pollfd(fd: input, events: Int16(POLLOUT), revents: 0)]
      if let fd = child?.errors, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if let fd = child?.output, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if poll(&descriptors, nfds_t(descriptors.count), Int32(min(remaining, 20))) > 0 {
        readErrors()
        discardOutput()
      }
    }
    if writeOffset < writeBuffer.count {
      logger.warning("plugin \(name): stopped before reading \(writeBuffer.count - writeOffset) bytes of requests")
    }
  }

  /// Waits up to `milliseconds` for the child to exit (reaping it), logging its stderr meanwhile.
  private func waitForExit(milliseconds: Int64) -> Bool {
    guard child != nil else { return true }
    let deadline = ExecClock.now() + milliseconds
    while true {
      if child?.reap(blocking: false) != nil {
        reaped = true
        return true
      }
      let remaining = deadline - ExecClock.now()
      if remaining <= 0 { return false }
      var descriptors: [pollfd] = []
      if let fd = child?.errors, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      if let fd = child?.output, fd >= 0 { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
      let slice = Int32(min(remaining, 20))
      if descriptors.isEmpty {
        usleep(UInt32(slice) * 1000)
      } else if poll(&descriptors, nfds_t(descriptors.count), slice) > 0 {
        readErrors()
        discardOutput()
      }
    }
  }
}
