import Foundation
import Glibc

/// A PostgreSQL cluster for the tests, through `scripts/throwaway-postgres` (initdb into a temporary directory, a
/// Unix socket there, fsync off).
///
/// ``shared`` is the one every test of a run may use: `USAGECTX_TEST_POSTGRES` (its URL, set by `scripts/test`),
/// else a cluster started for the run and stopped when the test process exits. Tests that stop the server start one
/// of their own (``start()``). Tests are skipped only when no PostgreSQL server binaries can be found
/// (``available``).
public final class ThrowawayPostgres: Sendable {
  public enum Failure: Error, CustomStringConvertible {
    case script(String)
    public var description: String {
      switch self {
      case .script(let message): return "scripts/throwaway-postgres: \(message)"
      }
    }
  }

  /// The cluster's URL.
  public let url: String
  /// Its directory, when this process started it (and may stop, start and remove it).
  public let directory: String?

  init(url: String, directory: String?) {
    self.url = url
    self.directory = directory
  }

  /// The repository's `scripts/throwaway-postgres`.
  public static var script: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("scripts/throwaway-postgres").path
  }

  /// Why PostgreSQL tests cannot run here (no URL given and no server binaries), or `nil` when they can.
  public static let unavailable: String? = {
    if ProcessInfo.processInfo.environment["USAGECTX_TEST_POSTGRES"]?.isEmpty == false { return nil }
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/initdb") { return nil }
    // No directory means no server.
    let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []  // harmless
    if versions.contains(where: { FileManager.default.isExecutableFile(atPath: "/usr/lib/postgresql/\($0)/bin/initdb") }
    ) {
      return nil
    }
    return
      "PostgreSQL server binaries (initdb) not found and USAGECTX_TEST_POSTGRES not set: scripts/bootstrap installs them"
  }()

  /// Whether PostgreSQL tests can run.
  public static var available: Bool { unavailable == nil }

  /// The cluster the run shares.
  public static func shared() throws -> ThrowawayPostgres {
    try sharedCluster.get()
  }

  private static let sharedCluster: Result<ThrowawayPostgres, Failure> = {
    if let url = ProcessInfo.processInfo.environment["USAGECTX_TEST_POSTGRES"], !url.isEmpty {
      return .success(ThrowawayPostgres(url: url, directory: nil))
    }
    do {
      let cluster = try start()
      startedForRun = cluster.directory
      atexit { ThrowawayPostgres.stopStartedForRun() }
      return .success(cluster)
    } catch let failure as Failure {
      return .failure(failure)
    } catch {
      return .failure(.script("\(error)"))
    }
  }()

  nonisolated(unsafe) private static var startedForRun: String?

  private static func stopStartedForRun() {
    guard let directory = startedForRun else { return }
    // The process is exiting; a leftover temporary directory is all that remains.
    _ = try? run(["stop", directory])  // harmless
  }

  /// Starts a cluster of its own (stop it with ``stop()``).
  public static func start() throws -> ThrowawayPostgres {
    let directory = try run(["start"]).trimmingCharacters(in: .whitespacesAndNewlines)
    let url = try run(["url", directory]).trimmingCharacters(in: .whitespacesAndNewlines)
    return ThrowawayPostgres(url: url, directory: directory)
  }

  /// Runs `pg_ctl` on a cluster this process started (`["stop", "-m", "immediate"]`, `["start"]`).
  public func pgCtl(_ arguments: [String]) throws {
    guard let directory else { throw Failure.script("pg_ctl on a cluster the tests did not start") }
    _ = try Self.run(["pg_ctl", directory] + arguments)
  }

  /// Stops a cluster this process started and removes its directory.
  public func stop() {
    guard let directory else { return }
    _ = try? Self.run(["stop", directory])  // harmless: a leftover temporary directory is all that remains
  }

  /// A new account name, so tests sharing a cluster never share an account.
  public static func account(_ prefix: String = "test") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8))"
  }

  /// Runs the script with `arguments` and returns its stdout; throws with its stderr when it fails.
  @discardableResult
  static func run(_ arguments: [String]) throws -> String {
    let process = try SpawnedProcess(script, arguments, stdin: .null, stdout: .pipe, stderr: .pipe)
    guard let stdout = process.stdout, let stderr = process.stderr else { throw Failure.script("no pipes") }
    let output = OutputCollector(stdout)
    let errors = OutputCollector(stderr)
    guard let termination = try process.wait(timeout: 120) else {
      _ = process.end(grace: 1)
      throw Failure.script("\(arguments.joined(separator: " ")) did not finish within 120 s")
    }
    _ = output.waitUntilFinished(timeout: 10)
    _ = errors.waitUntilFinished(timeout: 10)
    guard termination.code == 0 else {
      throw Failure.script("\(arguments.joined(separator: " ")) failed (\(termination.code)): \(errors.text)")
    }
    return output.text
  }
}
