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

  /// Whether the plugin serves its metrics.
  public enum State: String, Sendable {
    case loaded
    case failed
  }

  public var name: String
  public var version: String?
  /// The plugin ABI the plugin was built against (libraries).
  public var abi: UInt32?
  public var kind: Kind
  public var path: String
  public var metrics: [String]
  public var state: State
  public var lastError: String?

  public init(
    name: String, version: String? = nil, abi: UInt32? = nil, kind: Kind, path: String, metrics: [String] = [],
    state: State, lastError: String? = nil
  ) {
    self.name = name
    self.version = version
    self.abi = abi
    self.kind = kind
    self.path = path
    self.metrics = metrics
    self.state = state
    self.lastError = lastError
  }
}
