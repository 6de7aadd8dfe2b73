import DocumentsPlugin
import RequestsPlugin
import StoragePlugin
import TokensPlugin
import UsageCore

/// The metric plugins that ship with usagectx.
enum StandardPlugins {
  static var all: [any MetricPlugin] { [DocumentsPlugin(), StoragePlugin(), RequestsPlugin(), TokensPlugin()] }
}
