import Glibc

/// Where plugins are looked for, in order: directories named with `--plugins`, then those in the
/// `USAGECTX_PLUGIN_PATH` variable (colon-separated), then the defaults — the directory of the usagectx executable
/// (where `swift build` puts the standard plugins) and `../lib/usagectx/plugins` beside it (an installed layout).
///
/// In a directory someone named, every `*.so` is a plugin library and every `*.plugin.json` a manifest. In the
/// default locations, which also hold other files, only `libusagectx-*.so` and `usagectx-*.so` libraries count.
public struct PluginSearchPath: Sendable, Equatable {
  /// One directory to search.
  public struct Entry: Sendable, Equatable {
    public init(path: String, explicit: Bool) {
      self.path = path
      self.explicit = explicit
    }

    public var path: String
    /// `true` for directories named by the user: a missing one is an error worth reporting, and every library in
    /// it counts.
    public var explicit: Bool
  }

  public var entries: [Entry]

  public init(entries: [Entry]) { self.entries = entries }

  /// The search path for the given `--plugins` directories, environment and executable location.
  /// With `defaults: false` only the named directories and the environment's are searched.
  public static func standard(
    explicit: [String], environment: String? = PluginSearchPath.environmentValue,
    executableDirectory: String? = PluginSearchPath.executableDirectory(), defaults: Bool = true
  ) -> PluginSearchPath {
    var entries = explicit.map { Entry(path: $0, explicit: true) }
    for path in (environment ?? "").split(separator: ":") where !path.isEmpty {
      entries.append(Entry(path: String(path), explicit: true))
    }
    if defaults, let executableDirectory {
      entries.append(Entry(path: executableDirectory, explicit: false))
      entries.append(Entry(path: executableDirectory + "/../lib/usagectx/plugins", explicit: false))
    }
    var seen: Set<String> = []
    return PluginSearchPath(entries: entries.filter { seen.insert($0.path).inserted })
  }

  /// The value of `USAGECTX_PLUGIN_PATH`.
  public static var environmentValue: String? {
    getenv("USAGECTX_PLUGIN_PATH").map { String(cString: $0) }
  }

  /// The directory holding the running executable.
  public static func executableDirectory() -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
    guard length > 0 else { return nil }
    let path = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    guard let slash = path.lastIndex(of: "/") else { return nil }
    return String(path[..<slash])
  }

  /// `true` when `name` is a plugin library file for a directory of this kind.
  static func isLibrary(_ name: String, explicit: Bool) -> Bool {
    guard name.hasSuffix(".so") else { return false }
    return explicit || name.hasPrefix("libusagectx-") || name.hasPrefix("usagectx-")
  }
}
