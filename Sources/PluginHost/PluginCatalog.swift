public import Logging
public import UsageCore
import Glibc

/// The plugins found on the search path: the ones that loaded, ready for the usage context, and a status for every
/// one found (loaded or not), for `plugins/list`.
///
/// Nothing that goes wrong with one plugin stops the others: a library that does not load, a missing entry
/// function, an ABI from the future, options the plugin refuses, a metric another plugin already provides, or a
/// directory that cannot be read each leaves a failed status with the reason and a log line.
public struct PluginCatalog: Sendable {
  public private(set) var plugins: [any MetricPlugin] = []
  public private(set) var statuses: [PluginStatus] = []

  public init() {}

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
      for file in listing where PluginSearchPath.isLibrary(file, explicit: directory.explicit) {
        let path = directory.path + "/" + file
        catalog.add(
          library: path, configuration: configuration, claimed: &claimed, names: &names, logger: logger)
      }
    }
    return catalog
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
      return failed(name, "a plugin named \(name) is already loaded from \(other)", version: plugin.info.version, abi: plugin.abiVersion)
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
