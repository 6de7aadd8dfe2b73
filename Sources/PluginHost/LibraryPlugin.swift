import CUsagePlugin
public import Logging
public import UsageCore
import Glibc
import Synchronization

/// A plugin in a shared library, loaded through the C ABI of `protocol/usagectx_plugin.h`.
///
/// Loading opens the library, finds `usagectx_plugin_entry`, and checks the ABI version and struct sizes before
/// anything else is called. Each configuration creates an instance; instances live as long as the plugin, because
/// hooks handed to the usage context keep using the instance they were made from. Calls into one instance never
/// overlap: measuring happens under the usage context's lock and configuration on the session's thread.
public final class LibraryPlugin: MetricPlugin, @unchecked Sendable {
  public let info: PluginInfo
  public let path: String
  /// The ABI version the plugin was built against.
  public let abiVersion: UInt32
  private let handle: UnsafeMutableRawPointer
  private let table: UnsafePointer<usagectx_plugin>
  private let host: UnsafeMutablePointer<usagectx_host>
  private let logSink: Unmanaged<PluginLogSink>
  private let instances = Mutex<[Instance]>([])
  /// Held for every call into the plugin, so calls never overlap (the ABI promises plugins that).
  private let calls = Mutex(())

  /// A plugin instance pointer; only ever used under the rules above.
  private struct Instance: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
  }

  /// Why a library could not be loaded.
  public struct LoadError: Error, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
  }

  private init(
    path: String, handle: UnsafeMutableRawPointer, table: UnsafePointer<usagectx_plugin>, name: String,
    version: String, abiVersion: UInt32, logger: Logger
  ) {
    self.path = path
    self.handle = handle
    self.table = table
    self.info = PluginInfo(name: name, version: version)
    self.abiVersion = abiVersion
    let sink = Unmanaged.passRetained(PluginLogSink(plugin: name, logger: logger))
    self.logSink = sink
    host = .allocate(capacity: 1)
    host.initialize(
      to: usagectx_host(
        abi_version: USAGECTX_PLUGIN_ABI_VERSION, struct_size: UInt32(MemoryLayout<usagectx_host>.size),
        context: sink.toOpaque(), log: pluginLog))
  }

  deinit {
    let destroy = table.pointee.destroy
    for instance in instances.withLock({ $0 }) { destroy?(instance.pointer) }
    host.deallocate()
    logSink.release()
    // The library stays mapped: code from it may still be referenced by hooks until the process ends.
  }

  /// Opens the library at `path` and checks that it is a plugin this host can use.
  public static func load(path: String, logger: Logger) -> Result<LibraryPlugin, LoadError> {
    guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
      return .failure(LoadError(message: "cannot load library: \(dynamicLinkError())"))
    }
    func fail(_ message: String) -> Result<LibraryPlugin, LoadError> {
      dlclose(handle)
      return .failure(LoadError(message: message))
    }
    guard let symbol = dlsym(handle, "usagectx_plugin_entry") else {
      return fail("no entry function usagectx_plugin_entry (not a usagectx plugin)")
    }
    let entry = unsafeBitCast(symbol, to: (@convention(c) (UInt32) -> UnsafePointer<usagectx_plugin>?).self)
    guard let table = entry(USAGECTX_PLUGIN_ABI_VERSION) else {
      return fail("the plugin declined to work with plugin ABI \(USAGECTX_PLUGIN_ABI_VERSION)")
    }
    // Read the two leading fields before trusting the rest of the struct.
    let raw = UnsafeRawPointer(table)
    let abi = raw.load(as: UInt32.self)
    let size = raw.load(fromByteOffset: 4, as: UInt32.self)
    guard abi >= 1 else { return fail("invalid plugin ABI version 0") }
    guard abi <= USAGECTX_PLUGIN_ABI_VERSION else {
      return fail("built for plugin ABI \(abi), newer than this usagectx's \(USAGECTX_PLUGIN_ABI_VERSION)")
    }
    guard size >= UInt32(MemoryLayout<usagectx_plugin>.size) else {
      return fail("plugin struct is \(size) bytes, smaller than ABI \(abi) requires")
    }
    let plugin = table.pointee
    guard plugin.create != nil, plugin.destroy != nil, plugin.metric_count != nil, plugin.metric != nil,
      plugin.release != nil
    else { return fail("the plugin leaves a required function (create, destroy, metric_count, metric, release) empty") }
    guard let name = plugin.name.map(String.init(cString:)), !name.isEmpty else {
      return fail("the plugin has no name")
    }
    let version = plugin.version.map(String.init(cString:)) ?? "0"
    return .success(
      LibraryPlugin(
        path: path, handle: handle, table: table, name: name, version: version, abiVersion: abi, logger: logger))
  }

  private static func dynamicLinkError() -> String {
    dlerror().map { String(cString: $0) } ?? "unknown error"
  }

  // MARK: - MetricPlugin

  public func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
    let instance = try create(options: options)
    let count = table.pointee.metric_count?(instance) ?? 0
    var definitions: [MetricDefinition] = []
    for index in 0..<count {
      guard let metric = table.pointee.metric?(instance, index) else {
        throw .invalidField(field: "plugins.\(info.name)", reason: "metric \(index) is missing")
      }
      let described = try PluginDescriptor.read(metric, plugin: info.name)
      var hook: (any MeasureHook)? = nil
      if described.measures {
        guard table.pointee.measure != nil else {
          throw .invalidField(
            field: "plugins.\(info.name)", reason: "declares a measure hook but has no measure function")
        }
        hook = LibraryMeasureHook(plugin: self, instance: instance, index: index)
      }
      var authority: (any Authority)? = nil
      if described.fetches {
        guard table.pointee.fetch != nil else {
          throw .invalidField(field: "plugins.\(info.name)", reason: "declares a source but has no fetch function")
        }
        authority = LibraryAuthority(plugin: self, instance: instance, index: index)
      }
      definitions.append(MetricDefinition(descriptor: described.descriptor, hook: hook, authority: authority))
    }
    return definitions
  }

  private func create(options: ConfigValue) throws(UsageError) -> UnsafeMutableRawPointer {
    var error: UnsafeMutablePointer<CChar>? = nil
    let created = options.jsonText.withCString { json in table.pointee.create?(host, json, &error) }
    guard let instance = created else {
      let message = error.map { String(cString: $0) } ?? "the plugin could not be created"
      if let error { table.pointee.release?(nil, error) }
      throw PluginDescriptor.optionsError(message, plugin: info.name)
    }
    instances.withLock { $0.append(Instance(pointer: instance)) }
    return instance
  }

  /// Calls the plugin's measure function for the metric at `index` of `instance`.
  func measure(instance: UnsafeMutableRawPointer, index: UInt32, _ input: MeasureInput) throws(UsageError)
    -> Measurement
  {
    var output = usagectx_measure_output()
    output.struct_size = UInt32(MemoryLayout<usagectx_measure_output>.size)
    // Labels go across as C strings in one stack buffer: no allocation per increment.
    let textBytes = input.labels.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 }
    let status = withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(1, textBytes)) { text in
      withUnsafeTemporaryAllocation(of: usagectx_label.self, capacity: max(1, input.labels.count)) { labels in
        var offset = 0
        func copy(_ string: String) -> UnsafePointer<CChar> {
          let start = text.baseAddress! + offset
          let copied = string.utf8.withContiguousStorageIfAvailable { bytes in
            if let source = bytes.baseAddress { memcpy(start, source, bytes.count) }
            return bytes.count
          }
          if let copied {
            offset += copied
          } else {
            for byte in string.utf8 {
              text[offset] = CChar(bitPattern: byte)
              offset += 1
            }
          }
          text[offset] = 0
          offset += 1
          return UnsafePointer(start)
        }
        for (position, label) in input.labels.enumerated() {
          labels[position] = usagectx_label(key: copy(label.key), value: copy(label.value))
        }
        return input.fields.withUnsafeBufferPointer { fields in
          var measured = usagectx_measure_input(
            struct_size: UInt32(MemoryLayout<usagectx_measure_input>.size), field_count: UInt32(fields.count),
            fields: fields.baseAddress, labels: UnsafePointer(labels.baseAddress),
            label_count: UInt32(input.labels.count),
            reserved0: 0)
          return calls.withLock { _ in table.pointee.measure?(instance, index, &measured, &output) ?? USAGECTX_ERROR }
        }
      }
    }
    guard status == USAGECTX_OK else {
      throw .invalidField(field: "metric", reason: "plugin \(info.name) refused the increment")
    }
    var attributes: [String: String] = [:]
    if let list = output.attributes {
      for position in 0..<Int(output.attribute_count) {
        let pair = list[position]
        if let key = pair.key, let value = pair.value { attributes[String(cString: key)] = String(cString: value) }
      }
    }
    return Measurement(
      amount: output.amount, cost: output.cost.isFinite ? output.cost : 0, priced: output.priced != 0,
      attributes: attributes)
  }

  /// Calls the plugin's fetch function for the metric at `index` of `instance`.
  func fetch(instance: UnsafeMutableRawPointer, index: UInt32) throws(AuthorityError) -> Int64 {
    var value: Int64 = 0
    var error: UnsafeMutablePointer<CChar>? = nil
    let status = calls.withLock { _ in table.pointee.fetch?(instance, index, &value, &error) ?? USAGECTX_ERROR }
    if status == USAGECTX_OK && error == nil { return value }
    let message = error.map { String(cString: $0) } ?? "plugin \(info.name) could not read the value"
    if let error { _ = calls.withLock { _ in table.pointee.release?(instance, error) } }
    throw AuthorityError(message)
  }
}

/// The authoritative source of one metric of a library plugin instance (e.g. a directory scan).
struct LibraryAuthority: Authority, @unchecked Sendable {
  let plugin: LibraryPlugin
  let instance: UnsafeMutableRawPointer
  let index: UInt32

  var name: String { "plugin \(plugin.info.name)" }

  func read() throws(AuthorityError) -> Int64 {
    try plugin.fetch(instance: instance, index: index)
  }
}

/// The measure hook of one metric of a library plugin instance.
struct LibraryMeasureHook: MeasureHook, @unchecked Sendable {
  let plugin: LibraryPlugin
  let instance: UnsafeMutableRawPointer
  let index: UInt32

  func measure(_ input: MeasureInput) throws(UsageError) -> Measurement {
    try plugin.measure(instance: instance, index: index, input)
  }
}

/// Where a plugin's log lines go.
final class PluginLogSink {
  let plugin: String
  let logger: Logger

  init(plugin: String, logger: Logger) {
    self.plugin = plugin
    self.logger = logger
  }

  func log(level: Int32, _ message: String) {
    let text: Logger.Message = "plugin \(plugin): \(message)"
    switch level {
    case Int32(USAGECTX_LOG_DEBUG.rawValue): logger.debug(text)
    case Int32(USAGECTX_LOG_INFO.rawValue): logger.info(text)
    case Int32(USAGECTX_LOG_WARNING.rawValue): logger.warning(text)
    default: logger.error(text)
    }
  }
}

/// The host's log callback handed to every plugin.
private let pluginLog: @convention(c) (UnsafeMutableRawPointer?, Int32, UnsafePointer<CChar>?) -> Void = {
  context, level, message in
  guard let context, let message else { return }
  Unmanaged<PluginLogSink>.fromOpaque(context).takeUnretainedValue().log(level: level, String(cString: message))
}
