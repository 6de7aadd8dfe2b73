import ArgumentParser
import Glibc
import JSONRPC
import Ledger
import Logging
import UsageCore
import UsageServer

/// Options shared by the commands that run a session.
struct ServeOptions: ParsableArguments {
  @Option(help: "Plan tier to start in: free, pro or ultra.")
  var tier: String = "free"

  @Option(help: "Largest message accepted, in bytes; larger ones are refused before they are read into memory.")
  var maxMessageBytes: Int = 1 << 20

  @Option(help: "Most requests one batch may hold.")
  var maxBatch: Int = 1000

  @Option(help: "Deepest nesting of arrays and objects accepted in a message.")
  var maxDepth: Int = 100

  @Option(help: "Seconds a half-received message may wait for its remaining bytes before it is dropped.")
  var partialFrameTimeout: Int = 30

  @Option(help: "Process id of the client: usagectx exits when that process is gone (also initialize.processId).")
  var clientProcessId: Int32?

  @Option(help: "Log level on stderr: trace, debug, info, notice, warning, error, critical.")
  var logLevel: String = "warning"

  @Option(
    name: .customLong("plugins"),
    help: "A directory of plugins (repeatable); searched before USAGECTX_PLUGIN_PATH and the default locations.")
  var pluginDirectories: [String] = []

  @Flag(help: "Search only the --plugins directories and USAGECTX_PLUGIN_PATH, not the default locations.")
  var noDefaultPlugins = false

  @Option(help: "A JSON configuration file (the same shape as initialize.config).")
  var config: String?

  @Option(
    help: ArgumentHelp(
      "Directory of the durable ledger (usage.sqlite3).",
      discussion: """
        Default: $XDG_STATE_HOME/usagectx, else ~/.local/state/usagectx. A file there that is not a usagectx ledger \
        or is damaged stops usagectx with exit code 2 and a message naming it; it is left as it was.
        """))
  var state: String?

  @Flag(help: "Keep the ledger in memory only: nothing is written to disk and nothing outlives the session.")
  var noState = false

  @Option(
    help: ArgumentHelp(
      "When answers to changes are written: commit or memory.",
      discussion:
        "commit (default): after the change is on disk. memory: before the commit, faster, but a crash may lose changes already answered."
    ))
  var ack: String = "commit"

  @Option(help: "Milliseconds a commit waits for another process's lock on the ledger before the change is refused.")
  var busyTimeout: Int32 = 5_000

  @Option(
    help:
      "Changes for metrics held by plugin programs that may wait in the outbox; beyond it new ones are refused (-32052)."
  )
  var outboxLimit: Int = 1_000_000

  @Option(
    help: ArgumentHelp(
      "A PostgreSQL database holding the account's usage, shared by every device (postgres://…).",
      discussion: "Also authority.postgres.url in the configuration file, or USAGECTX_AUTHORITY."))
  var authority: String?

  @Option(help: "The account in the --authority database (default: the configuration's, else \"default\").")
  var account: String?

  func validate() throws {
    guard Tier(rawValue: tier) != nil else { throw ValidationError("--tier must be free, pro or ultra") }
    guard maxMessageBytes >= 64 else { throw ValidationError("--max-message-bytes must be at least 64") }
    guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1") }
    guard maxDepth >= 2 else { throw ValidationError("--max-depth must be at least 2") }
    guard partialFrameTimeout >= 1 else { throw ValidationError("--partial-frame-timeout must be at least 1") }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level: unknown level \(logLevel)")
    }
    guard ack == "commit" || ack == "memory" else { throw ValidationError("--ack must be commit or memory") }
    guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must not be negative") }
    guard outboxLimit >= 1 else { throw ValidationError("--outbox-limit must be at least 1") }
    guard !(noState && state != nil) else { throw ValidationError("--state and --no-state exclude each other") }
  }

  /// The session's options; reads the configuration file, if one was named.
  func sidecarOptions() throws -> Sidecar.Options {
    var options = Sidecar.Options()
    options.pluginDirectories = pluginDirectories
    options.defaultPluginLocations = !noDefaultPlugins
    options.limits = Dispatcher.Limits(maxDepth: maxDepth, maxBatch: maxBatch)
    options.server.maxMessageBytes = maxMessageBytes
    options.server.partialFrameTimeout = .seconds(partialFrameTimeout)
    options.server.watchedProcess = clientProcessId
    options.configuration.tier = Tier(rawValue: tier) ?? .free
    options.acknowledgeAfterCommit = ack == "commit"
    options.busyTimeout = busyTimeout
    options.outboxLimit = outboxLimit
    if !noState {
      guard let directory = state ?? LedgerStore.defaultDirectory() else {
        throw ValidationError("no state directory: set --state DIR (or HOME), or run with --no-state")
      }
      options.stateDirectory = directory
    }
    if let config {
      do {
        options.configuration = try ConfigurationFile.load(config, over: options.configuration)
      } catch {
        throw ValidationError("--config \(error)")
      }
    }
    options.configuration.sharedAuthority = try Self.sharedAuthority(
      flag: authority, account: account, configured: options.configuration.sharedAuthority,
      environment: getenv("USAGECTX_AUTHORITY").map { ["USAGECTX_AUTHORITY": String(cString: $0)] } ?? [:])
    return options
  }

  func makeLogger() -> Logger {
    var logger = Logger(label: "usagectx") { label in StreamLogHandler.standardError(label: label) }
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
    return logger
  }

  /// The shared authority: `--authority`, else the configuration file's, else `USAGECTX_AUTHORITY`; `--account` over
  /// the configuration's account.
  static func sharedAuthority(
    flag: String?, account: String?, configured: UsageConfiguration.SharedAuthority?, environment: [String: String]
  ) throws -> UsageConfiguration.SharedAuthority? {
    let url = flag ?? configured?.url ?? environment["USAGECTX_AUTHORITY"].flatMap { $0.isEmpty ? nil : $0 }
    guard let url else {
      if account != nil { throw ValidationError("--account needs --authority (or USAGECTX_AUTHORITY)") }
      return nil
    }
    guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") || url.contains("=") else {
      throw ValidationError("--authority must be a postgres:// URL or a libpq connection string")
    }
    return UsageConfiguration.SharedAuthority(url: url, account: account ?? configured?.account)
  }
}
