/// What the host knows about one plugin it found: shown by `plugins/list` and `usagectx plugins`.
public struct PluginStatus: Sendable, Equatable {
  /// How the plugin is run.
  public enum Kind: String, Sendable {
    /// A shared library loaded into the process through the C ABI.
    case library
    /// A program spawned by the host, spoken to over its stdio.
    case exec
    /// A plugin directory that could not be read (no plugin came from it).
    case directory
  }

  /// Whether the plugin serves its metrics. Libraries are `loaded` or `failed` for the whole session; exec plugins
  /// move between states as their program runs, fails and is restarted.
  public enum State: String, Sendable {
    /// Serving its metrics.
    case loaded
    /// Not serving, for the reason in `lastError`; not retried.
    case failed
    /// An exec plugin being started for the first time.
    case starting
    /// An exec plugin whose program failed after serving (see `lastError`); it is started again after a delay.
    case restarting
    /// An exec plugin that was shut down.
    case stopped
  }

  public var name: String
  public var version: String?
  /// The plugin ABI the plugin was built against (libraries).
  public var abi: UInt32?
  public var kind: Kind
  public var path: String
  public var metrics: [String]
  /// Metrics of other plugins whose authoritative value this plugin holds (exec plugins' `sources`).
  public var sources: [String]
  public var state: State
  public var lastError: String?

  public init(
    name: String, version: String? = nil, abi: UInt32? = nil, kind: Kind, path: String, metrics: [String] = [],
    sources: [String] = [], state: State, lastError: String? = nil
  ) {
    self.name = name
    self.version = version
    self.abi = abi
    self.kind = kind
    self.path = path
    self.metrics = metrics
    self.sources = sources
    self.state = state
    self.lastError = lastError
  }
}
