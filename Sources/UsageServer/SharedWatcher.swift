import JSONRPC
import Logging
import Postgres
import UsageCore

/// Keeps a session in step with the other devices of its account in PostgreSQL: their commits arrive as
/// notifications on the connection's socket, which sits in the session's poll loop, and the metrics they moved are
/// read again at once (their subscribers hear `usage/changed` and `usage/drift` naming the device). A read of the
/// account's counters every ``safetyInterval`` catches anything a notification missed. While PostgreSQL is away it
/// reconnects with the refresh backoff, then delivers the changes made meanwhile.
///
/// - Important: Used on the session's loop thread only.
final class SharedWatcher {
  /// How often the counters are read even without a notification.
  static let safetyInterval: Duration = .seconds(30)

  private let ledger: SharedLedger
  private let context: UsageContext
  private let synchronizer: Synchronizer
  private let server: StdioServer
  private let logger: Logger
  private let clock = ContinuousClock()
  private var watchedSocket: Int32 = -1
  private var nextSafetyRead: ContinuousClock.Instant
  /// The device that last moved each metric, for `usage/drift`.
  private(set) var lastSource: [String: String] = [:]
  /// The metrics the ledger holds (their error shows while PostgreSQL is away).
  private let held: [Int]
  private var wasOnline: Bool

  init(ledger: SharedLedger, context: UsageContext, synchronizer: Synchronizer, server: StdioServer, logger: Logger) {
    self.ledger = ledger
    self.context = context
    self.synchronizer = synchronizer
    self.server = server
    self.logger = logger
    nextSafetyRead = clock.now + Self.safetyInterval
    held = context.metricNames.indices.filter { context.authority(ofMetric: $0) is LedgerAuthority }
    wasOnline = ledger.isOnline
    if !wasOnline { logger.warning("\(ledger.lastError ?? "PostgreSQL cannot be reached"); answering offline") }
    showKnownTotals()
    rewatch()
  }

  /// Starts the held metrics from the ledger's totals (the account's last known totals and the changes not yet
  /// delivered), so a session that starts while PostgreSQL is away shows them, not zero, until a read succeeds.
  private func showKnownTotals() {
    let now = SystemWallClock().now()
    for index in held {
      let ticket = context.beginRead(metric: index)
      let start = context.descriptor(at: index).period.start(containing: now)
      _ = context.acceptReading(ticket, value: ledger.total(metric: context.metricNames[index], since: start))
    }
  }

  /// Lets `service` name the device that moved a metric in `usage/drift`.
  func tell(_ service: UsageService) {
    service.driftSource = { [unowned self] metric in lastSource[metric] }
  }

  /// When the watcher wants the loop back: the safety read, or the next reconnection while offline.
  var nextDeadline: ContinuousClock.Instant? {
    guard let attempt = ledger.nextAttempt else { return nextSafetyRead }
    let wait = attempt - SystemWallClock().now().milliseconds
    return min(nextSafetyRead, clock.now + .milliseconds(max(0, wait)))
  }

  /// On the loop's timer: the safety read when due; a reconnection (and delivery of the outbox) when due.
  func tick() {
    if ledger.nextAttempt != nil {
      if ledger.reconnectIfDue() { cameBack() }
    }
    if clock.now >= nextSafetyRead {
      nextSafetyRead = clock.now + Self.safetyInterval
      look(readAnyway: true)
    }
    noticeConnection()
    lookIfNotified()
  }

  /// After a burst: a commit may have lost or found the connection.
  func afterBurst() {
    noticeConnection()
    lookIfNotified()
  }

  /// Looks when notifications arrived while this device's own statements ran (libpq took them off the socket, so
  /// the loop's poll will not say so).
  private func lookIfNotified() {
    // A look runs statements too, during which more may arrive; each look takes what arrived before it.
    for _ in 0..<8 where ledger.hasNotificationsWaiting { look(readAnyway: false) }
  }

  private func cameBack() {
    logger.notice("PostgreSQL reachable again; delivering \(ledger.undeliveredCount) changes made meanwhile")
    do {
      try ledger.deliverWaiting()
    } catch {
      logger.error("changes made offline not delivered yet: \(error)")
    }
    noticeConnection()
    look(readAnyway: false)
    synchronizer.readNow(held)
  }

  private func noticeConnection() {
    rewatch()
    let online = ledger.isOnline
    guard online != wasOnline else { return }
    wasOnline = online
    if online {
      logger.notice("PostgreSQL reachable")
    } else {
      logger.warning("\(ledger.lastError ?? "PostgreSQL cannot be reached"); answering offline")
      synchronizer.readNow(held)
    }
  }

  private func rewatch() {
    let socket = ledger.socket
    guard socket != watchedSocket else { return }
    if watchedSocket >= 0 { server.unwatch(descriptor: watchedSocket) }
    watchedSocket = socket
    guard socket >= 0 else { return }
    server.watch(descriptor: socket) { [unowned self] in
      look(readAnyway: false)
      lookIfNotified()
    }
  }

  /// Takes the notifications in and reads again the metrics another device moved.
  private func look(readAnyway: Bool) {
    let (moved, sources) = ledger.absorbOthers(readAnyway: readAnyway)
    noticeConnection()
    guard !moved.isEmpty else { return }
    let source = sources.sorted().joined(separator: ", ")
    for metric in moved { lastSource[metric] = source.isEmpty ? "postgres" : source }
    logger.debug("\(moved.sorted().joined(separator: ", ")) moved by \(source.isEmpty ? "another device" : source)")
    // Their fields, cost and breakdown, summed over every device.
    context.restoreDetail(moved)
    synchronizer.readNow(moved.compactMap { context.index(ofMetric: $0) })
  }
}
