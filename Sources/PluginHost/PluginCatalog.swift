public import Logging
public import UsageCore
import Glibc

/// The plugins found on the search path: the ones that loaded, ready for the usage context, and a status for every
/// one found (loaded or not), for `plugins/list`.
///
/// A directory holds libraries (`*.so`) and, in directories someone named, exec plugin manifests (`*.plugin.json`),
/// loaded in file name order. The programs of all manifests in a directory are started at once, so their first
/// descriptions overlap.
///
/// Nothing that goes wrong with one plugin stops the others: a library that does not load, a missing entry
/// function, an ABI from the future, a malformed manifest, a program that cannot be run or fails to describe
/// itself, options the plugin refuses, a metric another plugin already provides, or a directory that cannot be read
/// each leaves a failed status with the reason and a log line.
public struct PluginCatalog: Sendable {
  public private(set) var plugins: [any MetricPlugin] = []
  /// The status of every plugin found, as it was when loading ended. ``currentStatuses()`` has the live ones.
  public private(set) var statuses: [PluginStatus] = []
  /// Authorities that exec plugins offer for metrics of other plugins (their description's `sources`), by metric
  /// name. Only metrics some loaded plugin provides are listed, each with the first plugin that claimed it.
  public private(set) var sourceAuthorities: [String: any Authority] = [:]
  /// The exec plugins that loaded, with the position of their entry in ``statuses``.
  private var execPlugins: [ExecEntry] = []

  private struct ExecEntry: Sendable {
    var statusIndex: Int
    var plugin: ExecPlugin
  }

  public init() {}

  /// Every plugin's status now: exec plugins report their live state (`loaded`, `restarting` with the last error,
  /// `stopped`); libraries, directories and plugins that failed to load keep the status they had at load time.
  public func currentStatuses() -> [PluginStatus] {
    var result = statuses
    for entry in execPlugins { result[entry.statusIndex] = entry.plugin.status() }
    return result
  }

  /// Calls `handler` with the metrics an exec plugin serves or is the source of, and why, when its program goes
  /// down; and with `nil` when it serves again. Called from the plugins' I/O threads.
  public func observeExecHealth(_ handler: @escaping @Sendable (_ metrics: [String], _ error: String?) -> Void) {
    for entry in execPlugins {
      let status = entry.plugin.status()
      let metrics = status.metrics + status.sources
      entry.plugin.onHealthChange { error in handler(metrics, error) }
    }
  }

  /// Calls `handler` once for every change reported to an exec plugin's authority with what became of it (see
  /// ``ExecPlugin/onReportOutcome(_:)``). Called from the plugins' I/O threads, or from within `report` on the thread
  /// that reported (which may hold its own locks: hand the outcome on rather than taking them).
  public func observeReports(
    _ handler: @escaping @Sendable (_ metric: String, _ seq: UInt64, ReportOutcome) -> Void
  ) {
    for entry in execPlugins { entry.plugin.onReportOutcome(handler) }
  }

  /// The exec plugins that loaded.
  public var loadedExecPlugins: [ExecPlugin] { execPlugins.map(\.plugin) }

  /// Stops every exec plugin's program (all at once) and waits until each is reaped: 2.5 s at most.
  public func shutdown() {
    for entry in execPlugins { entry.plugin.beginShutdown() }
    for entry in execPlugins { entry.plugin.waitUntilStopped() }
  }

  /// Finds and loads every plugin on `searchPath`, configured by `configuration`.
  public static func load(
    searchPath: PluginSearchPath, configuration: UsageConfiguration, logger: Logger
  ) -> PluginCatalog {
    var catalog = PluginCatalog()
    var claimed: [String: String] = [:]  // metric name → plugin that provides it
    var names: [String: String] = [:]  // plugin name → path
    for directory in Self.uniqueDirectories(searchPath) {
      let listing: [String]
      switch Self.list(directory.path) {
      case .success(let entries): listing = entries
      case .failure(let reason):
        guard directory.explicit else { continue }
        logger.error("plugin directory \(directory.path): \(reason)")
        catalog.statuses.append(
          PluginStatus(
            name: directory.path, kind: .directory, path: directory.path, state: .failed, lastError: "\(reason)"))
        continue
      }
      // Start every program first, so that their descriptions are prepared in parallel.
      var manifests: [String: Result<ExecPlugin, ExecManifest.LoadError>] = [:]
      var starting: Set<String> = []
      for file in listing where ExecManifest.isManifest(file, explicit: directory.explicit) {
        let loaded = ExecPlugin.load(manifest: directory.path + "/" + file, logger: logger)
        if case .success(let plugin) = loaded, names[plugin.manifest.name] == nil,
          starting.insert(plugin.manifest.name).inserted
        {
          plugin.start(options: configuration.plugins[plugin.manifest.name] ?? .null)
        }
        manifests[file] = loaded
      }
      for file in listing {
        let path = directory.path + "/" + file
        if let manifest = manifests[file] {
          catalog.add(
            exec: manifest, path: path, configuration: configuration, claimed: &claimed, names: &names, logger: logger)
        } else if PluginSearchPath.isLibrary(file, explicit: directory.explicit) {
          catalog.add(
            library: path, configuration: configuration, claimed: &claimed, names: &names, logger: logger)
        }
      }
    }
    catalog.collectSources(claimed: claimed, logger: logger)
    return catalog
  }

  private mutating func add(
    exec loaded: Result<ExecPlugin, ExecManifest.LoadError>, path: String, configuration: UsageConfiguration,
    claimed: inout [String: String], names: inout [String: String], logger: Logger
  ) {
    func failed(_ name: String, _ reason: String, version: String? = nil) {
      logger.error("plugin \(path): \(reason)")
      statuses.append(
        PluginStatus(name: name, version: version, kind: .exec, path: path, state: .failed, lastError: reason))
    }
    let plugin: ExecPlugin
    switch loaded {
    case .success(let manifestLoaded): plugin = manifestLoaded
    case .failure(let error):
      let fileName = String(path.split(separator: "/").last ?? Substring(path))
      return failed(String(fileName.dropLast(ExecManifest.suffix.count)), error.message)
    }
    let name = plugin.manifest.name
    if let other = names[name] { return failed(name, "a plugin named \(name) is already loaded from \(other)") }
    let metrics: [String]
    do {
      metrics = try plugin.metrics(options: configuration.plugins[name] ?? .null).map(\.descriptor.name)
    } catch {
      // A program that failed to start says why in its status; otherwise (options refused) the error says it.
      let status = plugin.status()
      plugin.shutdown()
      let reason = status.state == .failed ? status.lastError ?? "\(error)" : "\(error)"
      return failed(name, reason, version: status.version)
    }
    if let taken = metrics.first(where: { claimed[$0] != nil }) {
      plugin.shutdown()
      let reason = "metric \(taken) is already provided by plugin \(claimed[taken] ?? "?")"
      return failed(name, reason, version: plugin.status().version)
    }
    for metric in metrics { claimed[metric] = name }
    names[name] = path
    plugins.append(plugin)
    execPlugins.append(ExecEntry(statusIndex: statuses.count, plugin: plugin))
    let status = plugin.status()
    statuses.append(status)
    logger.debug("loaded exec plugin \(name) \(status.version ?? "") from \(path): \(metrics.joined(separator: ", "))")
  }

  /// Gathers the exec plugins' `sources`, keeping those naming a metric some plugin provides.
  private mutating func collectSources(claimed: [String: String], logger: Logger) {
    for entry in execPlugins {
      let name = entry.plugin.manifest.name
      for (metric, authority) in entry.plugin.sourceAuthorities().sorted(by: { $0.key < $1.key }) {
        if claimed[metric] == nil {
          logger.warning("plugin \(name) is a source for metric \(metric), which no loaded plugin provides")
        } else if let other = sourceAuthorities[metric] {
          logger.warning("plugin \(name) is a source for metric \(metric), which already has one: \(other.name)")
        } else {
          sourceAuthorities[metric] = authority
        }
      }
    }
  }

  private mutating func add(
    library path: String, configuration: UsageConfiguration, claimed: inout [String: String],
    names: inout [String: String], logger: Logger
  ) {
    func failed(_ name: String, _ reason: String, version: String? = nil, abi: UInt32? = nil) {
      logger.error("plugin \(path): \(reason)")
      statuses.append(
        PluginStatus(
          name: name, version: version, abi: abi, kind: .library, path: path, state: .failed, lastError: reason))
    }
    let fileName = String(path.split(separator: "/").last ?? Substring(path))
    let plugin: LibraryPlugin
    switch LibraryPlugin.load(path: path, logger: logger) {
    case .success(let loaded): plugin = loaded
    case .failure(let error): return failed(fileName, error.message)
    }
    let name = plugin.info.name
    if let other = names[name] {
      return failed(
        name, "a plugin named \(name) is already loaded from \(other)", version: plugin.info.version,
        abi: plugin.abiVersion)
    }
    let metrics: [String]
    do {
      metrics = try plugin.metrics(options: configuration.plugins[name] ?? .null).map(\.descriptor.name)
    } catch {
      return failed(name, "\(error)", version: plugin.info.version, abi: plugin.abiVersion)
    }
    if let taken = metrics.first(where: { claimed[$0] != nil }) {
      return failed(
        name, "metric \(taken) is already provided by plugin \(claimed[taken] ?? "?")", version: plugin.info.version,
        abi: plugin.abiVersion)
    }
    for metric in metrics { claimed[metric] = name }
    names[name] = path
    plugins.append(plugin)
    statuses.append(
      PluginStatus(
        name: name, version: plugin.info.version, abi: plugin.abiVersion, kind: .library, path: path,
        metrics: metrics, state: .loaded))
    logger.debug("loaded plugin \(name) \(plugin.info.version) from \(path): \(metrics.joined(separator: ", "))")
  }

  /// The search path's directories with duplicates (the same directory reached two ways) removed.
  private static func uniqueDirectories(_ searchPath: PluginSearchPath) -> [PluginSearchPath.Entry] {
    var result: [PluginSearchPath.Entry] = []
    for entry in searchPath.entries {
      var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
      let path =
        realpath(entry.path, &resolved) != nil
        ? String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : entry.path
      if let index = result.firstIndex(where: { $0.path == path }) {
        // Named explicitly and also a default location: read it the explicit way.
        result[index].explicit = result[index].explicit || entry.explicit
      } else {
        result.append(PluginSearchPath.Entry(path: path, explicit: entry.explicit))
      }
    }
    return result
  }

  /// The names in a directory, sorted, or why it cannot be read.
  private static func list(_ path: String) -> Result<[String], ListError> {
    guard let directory = opendir(path) else { return .failure(ListError(errno: errno)) }
    defer { closedir(directory) }
    var names: [String] = []
    while let entry = readdir(directory) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    return .success(names.sorted())
  }

  private struct ListError: Error, CustomStringConvertible {
    let errno: Int32
    var description: String { "cannot read directory: \(String(cString: strerror(errno)))" }
  }
}
