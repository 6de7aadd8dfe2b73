/// When one key is refreshed: the knobs of every trigger, with the defaults of the issue. Durations are
/// milliseconds.
public struct RefreshPolicy: Equatable, Sendable {
  /// Time from the end of one fetch to the next periodic one (SWR style: no overlap, no fixed cadence); `nil`
  /// turns periodic refresh off. Default 5 min.
  public var interval: Milliseconds?
  /// Whether the periodic refresh goes on while the client says it is hidden (unfocused). Default no.
  public var refreshWhileHidden: Bool
  /// Whether automatic triggers fire while the client says it is offline. Meant for local sources (a directory
  /// scan, the local ledger) that do not need the client's network; such keys get no reconnect refresh either.
  /// Default no.
  public var refreshWhileOffline: Bool
  /// Whether regaining focus triggers a refresh. Default yes.
  public var refreshOnFocus: Bool
  /// After a focus-triggered fetch starts, further focus triggers are ignored for this long. Default 5 s.
  public var focusThrottle: Milliseconds
  /// Focus triggers a fetch only if the client was unfocused at least this long. Default 1 s.
  public var minimumUnfocused: Milliseconds
  /// A refresh follows this long after the last mutation of a burst. Default 1 s.
  public var mutationDebounce: Milliseconds
  /// When set, a burst of mutations never delays its refresh more than this after its first mutation (so a
  /// steady stream of mutations closer than the debounce cannot postpone it forever). Default `nil` (off).
  public var mutationMaxWait: Milliseconds?
  /// A manual refresh within this time of a successful fetch reuses it unless forced; focus and reconnect
  /// triggers are satisfied by such a fetch too. Default 2 s.
  public var dedupeWindow: Milliseconds
  /// Delays between retries after failures. Default base 1 s, cap 5 min.
  public var backoff: Backoff

  public init(
    interval: Milliseconds? = 300_000,
    refreshWhileHidden: Bool = false,
    refreshWhileOffline: Bool = false,
    refreshOnFocus: Bool = true,
    focusThrottle: Milliseconds = 5_000,
    minimumUnfocused: Milliseconds = 1_000,
    mutationDebounce: Milliseconds = 1_000,
    mutationMaxWait: Milliseconds? = nil,
    dedupeWindow: Milliseconds = 2_000,
    backoff: Backoff = Backoff()
  ) {
    self.interval = interval
    self.refreshWhileHidden = refreshWhileHidden
    self.refreshWhileOffline = refreshWhileOffline
    self.refreshOnFocus = refreshOnFocus
    self.focusThrottle = focusThrottle
    self.minimumUnfocused = minimumUnfocused
    self.mutationDebounce = mutationDebounce
    self.mutationMaxWait = mutationMaxWait
    self.dedupeWindow = dedupeWindow
    self.backoff = backoff
  }
}
