public import Logging
import JSON
import Ledger
import PluginHost
import UsageCore
import Glibc

/// The usage on a state directory as `usage/get` answers it, read without a session and without writing anything:
/// the ledger is opened only for reading (its running totals, never its history), the metrics of other sources show
/// their last kept reading, and no source is read. For `usagectx status`, which a prompt runs every time.
public enum SnapshotReader {
  /// Why the snapshot could not be read this way (the caller may fall back to a session).
  public struct Failure: Error, CustomStringConvertible {
    public var description: String
  }

  /// The `usage/get` result for `metrics` (all when empty), as JSON text. A state directory without a ledger shows
  /// every metric from zero.
  public static func read(options: Sidecar.Options, metrics: [String], logger: Logger) throws(Failure) -> String {
    let catalog = PluginCatalog.load(
      searchPath: options.searchPath, configuration: options.configuration, logger: logger)
    defer { catalog.shutdown() }
    var ledger: any UsageLedger = MemoryLedger()
    if let directory = options.stateDirectory {
      var status = stat()
      if stat(directory + "/" + LedgerStore.fileName, &status) == 0 {
        do throws(LedgerError) {
          ledger = try DurableLedger(
            store: LedgerStore(directory: directory, busyTimeout: options.busyTimeout, readOnly: true))
        } catch {
          throw Failure(description: "\(error)")
        }
      }
    }
    let context: UsageContext
    do throws(UsageError) {
      context = try UsageContext(
        plugins: catalog.plugins, configuration: options.configuration, ledger: ledger,
        authorities: catalog.sourceAuthorities)
    } catch {
      throw Failure(description: "configuration refused: \(error)")
    }
    var indices: [Int] = []
    for name in metrics {
      guard let index = context.index(ofMetric: name) else { throw Failure(description: "unknown metric \(name)") }
      indices.append(index)
    }
    context.restoreDetail()
    context.restoreReadings()
    // The ledger's own metrics: their total of the period, from the running totals.
    for index in context.metricNames.indices {
      guard let authority = context.authority(ofMetric: index) as? LedgerAuthority else { continue }
      let ticket = context.beginRead(metric: index)
      do throws(AuthorityError) {
        _ = context.acceptReading(ticket, value: try authority.read())
      } catch {
        throw Failure(description: "\(error)")
      }
    }
    var writer = JSONWriter()
    writer.snapshot(context.snapshot(indices.isEmpty ? nil : indices))
    return String(decoding: writer.bytes, as: UTF8.self)
  }
}
