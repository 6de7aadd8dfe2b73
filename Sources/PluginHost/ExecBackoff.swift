/// Delays between restarts of a failing plugin: exponential backoff with full jitter. The n-th consecutive failure
/// (from 0) waits a uniformly random time between 0 and `min(cap, base · 2ⁿ)`; a successful answer starts again
/// from 0.
struct ExecBackoff: Sendable {
  let baseMilliseconds: Int64
  let capMilliseconds: Int64
  /// Consecutive failures since the last successful answer.
  private(set) var failures = 0

  init(baseMilliseconds: Int64, capMilliseconds: Int64) {
    self.baseMilliseconds = max(1, baseMilliseconds)
    self.capMilliseconds = max(self.baseMilliseconds, capMilliseconds)
  }

  /// The largest delay for the next failure.
  var ceiling: Int64 {
    let doublings = min(failures, 40)
    let scaled = baseMilliseconds.multipliedReportingOverflow(by: Int64(1) << doublings)
    return scaled.overflow ? capMilliseconds : min(capMilliseconds, scaled.partialValue)
  }

  /// Counts a failure and returns how long to wait before the next attempt.
  mutating func nextDelay() -> Int64 {
    let delay = Int64.random(in: 0...ceiling)
    failures += 1
    return delay
  }

  /// Forgets earlier failures.
  mutating func reset() { failures = 0 }
}
