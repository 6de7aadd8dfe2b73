import UsageCore
import UsageServer

/// The configuration target: the input as a configuration file, applied over the defaults; when accepted, the
/// refresh settings are derived and a context is built from it over the session target's metrics, as a session
/// would at start. Refusals are expected; traps are not.
enum ConfigurationFuzzing {
  static func run(_ input: UnsafeRawBufferPointer) {
    let configuration: UsageConfiguration
    do {
      configuration = try ConfigurationFile.parse(input, over: UsageConfiguration(), named: "fuzz.json")
    } catch {
      return
    }
    do {
      let context = try UsageContext(plugins: [SessionFuzzing.Metrics()], configuration: configuration)
      _ = try RefreshSettings.policies(configuration, metrics: context.metricNames)
      _ = context.snapshot()
    } catch {
      return
    }
  }
}
