/// The ledger as a metric's authority: the metric's total over its current period. Its committed state is read
/// inside the transaction of the changes it decides (see ``Authority/committed(at:)``).
public struct LedgerAuthority: Authority {
  let ledger: any UsageLedger
  let metric: String
  let period: Period
  let clock: any WallClock

  public init(ledger: any UsageLedger, metric: String, period: Period, clock: any WallClock) {
    self.ledger = ledger
    self.metric = metric
    self.period = period
    self.clock = clock
  }

  public var name: String { ledger.authorityName }

  /// The total over the current period; negative when more was taken than recorded (the display clamps it).
  public func read() throws(AuthorityError) -> Int64 {
    try ledger.read(metric: metric, since: period.start(containing: clock.now()))
  }

  public var unconfirmed: Int64 { ledger.unconfirmed(metric: metric) }

  public func committed(at time: Timestamp) -> CommittedTotal? {
    ledger.committed(metric: metric, since: period.start(containing: time), at: time)
  }

  public func report(_ change: ReportedChange) -> ReportReceipt {
    ledger.record(
      RecordedChange(
        metric: metric, delta: change.delta, at: clock.now(), key: change.key, label: change.label,
        detail: change.detail, kind: change.kind, labels: change.labels))
    return .recorded
  }
}
