import Glibc
import Ledger
import Logging
import Postgres
import RefreshScheduler
import UsageCore

/// Opening the shared authority of a session (`--authority postgres://…`, `authority.postgres` in the
/// configuration): the account's ledger in PostgreSQL over the local durable ledger.
extension Sidecar {
  /// Why the shared authority cannot be used in this session.
  struct SharedRefusal: Error, CustomStringConvertible {
    let description: String
  }

  /// Opens the configured shared authority over `durable` (`nil` when none is configured). PostgreSQL being
  /// unreachable is not a failure: the ledger starts offline, from the totals kept in `durable`.
  static func openShared(
    durable: DurableLedger?, configuration: UsageConfiguration, logger: Logger
  ) -> Result<SharedLedger?, SharedRefusal> {
    guard let settings = configuration.sharedAuthority, let url = settings.url else { return .success(nil) }
    guard let durable else {
      return .failure(
        SharedRefusal(
          description:
            "--authority needs a state directory (for the changes made while PostgreSQL is away); drop --no-state"))
    }
    let account = settings.account ?? "default"
    // Reconnections follow the refresh backoff (validated with the other refresh settings before the session starts).
    // A refused setting stops the session just after.
    let policy = try? RefreshSettings.globalPolicy(configuration)  // harmless: refused just after
    let backoff = policy?.backoff ?? Backoff(base: 1_000, cap: 30_000)
    let ledger = SharedLedger(
      local: durable, url: url, account: account, device: deviceName(durable), session: sessionTag(), backoff: backoff)
    logger.debug("authority: account \(account) in PostgreSQL, \(ledger.isOnline ? "online" : "offline")")
    return .success(ledger)
  }

  /// The ledger changes go through: the shared one, else the durable one, else one in memory.
  static func sessionLedger(_ shared: SharedLedger?, _ durable: DurableLedger?) -> any UsageLedger {
    if let shared { return shared }
    if let durable { return durable }
    return MemoryLedger()
  }

  /// This device's name in the change log: the host and the state directory.
  static func deviceName(_ durable: DurableLedger) -> String {
    var host = [CChar](repeating: 0, count: 256)
    let name =
      gethostname(&host, host.count - 1) == 0
      ? String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : "host"
    let directory = durable.path.split(separator: "/").dropLast().joined(separator: "/")
    return "\(name):/\(directory)"
  }

  /// The tier of the configuration, or the account's tier when the shared authority holds one.
  static func configuration(_ base: UsageConfiguration, shared: SharedLedger?) -> UsageConfiguration {
    var configuration = base
    if let tier = shared?.tier.flatMap(Tier.init(rawValue:)) { configuration.tier = tier }
    return configuration
  }
}
