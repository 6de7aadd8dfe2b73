/// Delays between retries of a failing fetch: exponential backoff with full jitter, honouring the source's
/// retry-after hint.
///
/// After the n-th consecutive failure (counted from 0) the wait is uniform in `0...min(cap, base · 2ⁿ)` ("full
/// jitter", which does the least work of the AWS variants); a retry-after hint makes it at least the hint, even
/// beyond the cap. A pure function of its inputs and the random source, so tests pass a seeded generator.
public struct Backoff: Equatable, Sendable {
  /// The ceiling of the first retry's delay.
  public var base: Milliseconds
  /// The largest ceiling, however many failures came before.
  public var cap: Milliseconds

  /// Backoff from `base` (1 s) doubling up to `cap` (5 min). Negative values count as 0.
  public init(base: Milliseconds = 1_000, cap: Milliseconds = 300_000) {
    self.base = base
    self.cap = cap
  }

  /// The largest delay after failure number `attempt` (0 for the first): `min(cap, base · 2^attempt)`, without
  /// overflow for any attempt.
  public func ceiling(attempt: Int) -> Milliseconds {
    let base = max(0, self.base)
    let cap = max(0, self.cap)
    let (scaled, overflow) = base.multipliedReportingOverflow(by: Int64(1) << min(max(0, attempt), 62))
    return overflow ? cap : min(cap, scaled)
  }

  /// How long to wait after failure number `attempt` (0 for the first): a uniform draw from
  /// `0...ceiling(attempt:)`, raised to `retryAfter` when the source gave one.
  public func delay(
    attempt: Int, retryAfter: Milliseconds? = nil, using generator: inout some RandomNumberGenerator
  ) -> Milliseconds {
    let jittered = Int64.random(in: 0...ceiling(attempt: attempt), using: &generator)
    return max(jittered, retryAfter ?? 0)
  }
}
