public import Logging
import JSONRPC
import Synchronization
public import UsageCore

/// A plugin that is a program: started from a manifest (``ExecManifest``) and spoken to with newline-delimited
/// JSON-RPC 2.0 over its stdin and stdout, as `protocol/exec-plugins.md` describes.
///
/// `metrics(options:)` starts the program on first use and asks it to describe itself (`plugin/describe`, bounded
/// by the manifest's timeout); every metric it declares gets an ``ExecAuthority``. The program's stderr goes to the
/// log. When it fails after having served (exits, hangs, writes garbage) it is killed and started again with
/// backoff; ``status()`` shows where it is. The program is stopped by ``shutdown()`` or when the plugin goes away.
public final class ExecPlugin: MetricPlugin {
  public let manifest: ExecManifest
  let connection: ExecConnection
  /// The metric names of the first description: the metrics are fixed for the session.
  private let metricNames = Mutex<[String]?>(nil)

  public init(manifest: ExecManifest, logger: Logger) {
    self.manifest = manifest
    connection = ExecConnection(manifest: manifest, logger: logger)
  }

  /// Reads the manifest at `path`; the program is not started yet.
  public static func load(manifest path: String, logger: Logger) -> Result<ExecPlugin, ExecManifest.LoadError> {
    ExecManifest.load(path: path).map { ExecPlugin(manifest: $0, logger: logger) }
  }

  deinit {
    connection.shutdown()
  }

  /// The manifest's name, and the version the program last described (`"unknown"` before that).
  public var info: PluginInfo {
    PluginInfo(name: manifest.name, version: connection.status().version ?? "unknown")
  }

  /// The options the program is described with: the configuration's section when there is one, else the
  /// manifest's `options`.
  public func effectiveOptions(_ options: ConfigValue) -> ConfigValue {
    options.isNull ? (manifest.options ?? .null) : options
  }

  /// Starts the program and sends `plugin/describe` without waiting, so that several plugins start at once; a
  /// later ``metrics(options:)`` with the same options waits for that description.
  public func start(options: ConfigValue) {
    connection.start(options: effectiveOptions(options))
  }

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    switch connection.describe(options: effectiveOptions(options)) {
    case .described(let description):
      let names = description.metricNames
      let first = metricNames.withLock { fixed in
        if fixed == nil { fixed = names }
        return fixed ?? names
      }
      guard names == first else {
        throw .invalidField(
          field: "config.plugins.\(manifest.name)",
          reason: "would change the plugin's metrics from \(first.joined(separator: ", ")) to "
            + "\(names.joined(separator: ", ")); metrics are fixed for the session")
      }
      return description.metrics.map { descriptor in
        MetricDefinition(
          descriptor: descriptor, authority: ExecAuthority(metric: descriptor.name, connection: connection))
      }
    case .refused(let error):
      throw PluginDescriptor.optionsError(error.message, plugin: manifest.name)
    case .failed(let reason):
      throw .invalidField(field: "plugins.\(manifest.name)", reason: reason)
    case .value, .done:
      throw .invalidField(field: "plugins.\(manifest.name)", reason: "gave an answer that is not a description")
    }
  }

  /// The metrics of other plugins whose authoritative value this program holds (its description's `sources`),
  /// each with its authority. Empty until the program has described itself.
  public func sourceAuthorities() -> [String: any Authority] {
    var result: [String: any Authority] = [:]
    for metric in connection.status().sources {
      result[metric] = ExecAuthority(metric: metric, connection: connection)
    }
    return result
  }

  /// The plugin's live status: `loaded` while serving, `restarting` (with the last error) while its program is
  /// down, `failed` when the first start failed, `stopped` after shutdown.
  /// Calls `handler` when the program goes down after serving (with why) and when it serves again (`nil`), from
  /// the plugin's I/O thread.
  public func onHealthChange(_ handler: @escaping @Sendable (String?) -> Void) {
    connection.healthObserver.withLock { $0 = handler }
  }

  /// Calls `handler` once for every change its authorities reported (``ReportReceipt/pending``) with what became of
  /// it: the metric, the change's sequence number, and the outcome. Replaces any previous handler. Never called while
  /// the plugin holds a lock, but called from the plugin's I/O thread, or — for a report lost at once (the plugin
  /// failed to start or is stopped) — from within ``Authority/report(_:)`` on
  /// the reporting thread, which may hold locks of its own: hand the outcome to another thread rather than taking
  /// the reporter's locks here.
  public func onReportOutcome(_ handler: @escaping @Sendable (_ metric: String, _ seq: UInt64, ReportOutcome) -> Void) {
    let observer = ReportObserver(handler)
    connection.reportObserver.withLock { $0 = observer }
  }

  public func status() -> PluginStatus {
    connection.status()
  }

  /// Stops the program (stdin closed, 1 s, SIGTERM, 1 s, SIGKILL) and waits until it is reaped.
  public func shutdown() {
    connection.shutdown()
  }

  /// Starts stopping the program without waiting; see ``waitUntilStopped()``.
  public func beginShutdown() {
    connection.beginShutdown()
  }

  /// Waits until the program has been stopped and reaped.
  public func waitUntilStopped() {
    connection.waitUntilStopped()
  }
}
