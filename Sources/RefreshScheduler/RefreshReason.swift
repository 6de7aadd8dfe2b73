/// Why a fetch starts. When several triggers are due at once they share one fetch, reported under the first
/// reason in this order: manual, retry, reconnect, initial, mutation, focus, periodic.
public enum RefreshReason: String, Sendable, CaseIterable {
  /// The first read after the key was added.
  case initial
  /// The periodic refresh.
  case periodic
  /// The client regained focus.
  case focus
  /// The client came back online.
  case reconnect
  /// The debounced refresh after a burst of mutations.
  case mutation
  /// A retry after a failure, once the backoff has passed.
  case retry
  /// A `usage/refresh` call.
  case manual

  /// Higher wins when triggers coalesce.
  var precedence: Int {
    switch self {
    case .periodic: 0
    case .focus: 1
    case .mutation: 2
    case .initial: 3
    case .reconnect: 4
    case .retry: 5
    case .manual: 6
    }
  }
}
