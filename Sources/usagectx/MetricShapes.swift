import Faces
import Logging
import PluginHost
import UsageCore

/// The field names and currencies of the metrics the plugins on the search path declare, for the report and export
/// formats (the ledger keeps field values by position).
enum MetricShapes {
  static func load(pluginDirectories: [String] = [], configuration: UsageConfiguration = UsageConfiguration())
    -> [MetricShape]
  {
    var logger = Logger(label: "usagectx") { label in StreamLogHandler.standardError(label: label) }
    logger.logLevel = .critical
    let catalog = PluginCatalog.load(
      searchPath: .standard(explicit: pluginDirectories, defaults: true), configuration: configuration, logger: logger)
    defer { catalog.shutdown() }
    var shapes: [MetricShape] = []
    for plugin in catalog.plugins {
      let options = configuration.plugins[plugin.info.name] ?? .null
      // A plugin refusing its options only loses its columns; the values are still written.
      for definition in (try? plugin.metrics(options: options)) ?? [] {  // harmless: only columns lost
        let descriptor = definition.descriptor
        shapes.append(
          MetricShape(
            name: descriptor.name, fields: descriptor.fields, currency: descriptor.currency, unit: descriptor.unit))
      }
    }
    return shapes
  }
}
