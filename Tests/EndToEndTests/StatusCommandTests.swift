import Foundation
import JSON
import Testing

/// `usagectx status` as a prompt or a status bar runs it: one line on stdout, the level in the exit status.
@Suite("usagectx status")
struct StatusCommandTests {
  static func directory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-status-\(UUID().uuidString)").path
  }

  /// Records a change with `usagectx call` on the state directory.
  static func call(_ state: String, _ method: String, _ params: String) throws {
    let run = try OneShotCommand.run(["call", method, params, "--state", state])
    #expect(run.status == 0, "\(run.stderr)")
  }

  @Test("no ledger: every metric ok, exit 0, and nothing is created")
  func noLedger() throws {
    let state = Self.directory()
    let run = try OneShotCommand.run(["status", "--state", state], environment: ["NO_COLOR": nil])
    #expect(run.status == 0, "\(run.stderr)")
    #expect(run.stdout == "documents 0/100 0%  requests 0/100 0%  storage 0 B/100 MiB 0%  tokens 0/100k 0% $0.00\n")
    #expect(!FileManager.default.fileExists(atPath: state))
  }

  @Test("levels: exit 0, 1, 2 for ok, warning, exceeded; --quiet prints nothing; --metric picks")
  func exitStatus() throws {
    let state = Self.directory()
    try Self.call(state, "usage/increment", #"{"metric":"documents","amount":85}"#)
    try Self.call(state, "usage/increment", #"{"metric":"requests","amount":100}"#)
    let all = try OneShotCommand.run(["status", "--state", state])
    #expect(all.status == 2)
    #expect(all.stdout.contains("documents 85/100 85%"))
    #expect(all.stdout.contains("requests 100/100 100%"))
    let documents = try OneShotCommand.run(["status", "--state", state, "--metric", "documents", "--quiet"])
    #expect(documents.status == 1)
    #expect(documents.stdout.isEmpty)
    let storage = try OneShotCommand.run(["status", "--state", state, "--metric", "storage"])
    #expect(storage.status == 0)
    #expect(storage.stdout == "storage 0 B/100 MiB 0%\n")
  }

  @Test("formats: json, tmux, waybar and a template, with tokens' cost; colour only when asked or on a terminal")
  func formats() throws {
    let state = Self.directory()
    try Self.call(
      state, "usage/increment", #"{"metric":"tokens","input":1200,"output":350,"labels":{"model":"gpt-4o"}}"#)
    let json = try OneShotCommand.run(["status", "--state", state, "--format", "json", "--metric", "tokens"])
    let object = try JSONData(parsing: json.stdout)
    #expect(object["level"] == "ok")
    #expect(object["metrics"]?[0]?["used"] == 1550)
    #expect(object["metrics"]?[0]?["cost"] == 0.0065)
    #expect(object["metrics"]?[0]?["currency"] == "USD")
    let tmux = try OneShotCommand.run(
      ["status", "--state", state, "--format", "tmux", "--metric", "tokens"], environment: ["NO_COLOR": nil])
    #expect(tmux.stdout == "#[fg=green]tokens 1.6k/100k 1% $0.0065#[default]\n")
    let plainTmux = try OneShotCommand.run(
      ["status", "--state", state, "--format", "tmux", "--metric", "tokens"], environment: ["NO_COLOR": "1"])
    #expect(plainTmux.stdout == "tokens 1.6k/100k 1% $0.0065\n")
    let waybar = try JSONData(
      parsing: try OneShotCommand.run(["status", "--state", state, "--format", "waybar"]).stdout)
    #expect(waybar["class"] == "ok")
    #expect(waybar["tooltip"]?.string?.contains("tokens: 1,550 / 100,000 tokens") == true)
    let template = try OneShotCommand.run(
      ["status", "--state", state, "--metric", "tokens", "--template", "{name}={used} {cost} left {remaining}"])
    #expect(template.stdout == "tokens=1.6k $0.0065 left 98k\n")
    // Not a terminal: no escapes unless --color always.
    #expect(!template.stdout.contains("\u{1B}"))
    let forced = try OneShotCommand.run(
      ["status", "--state", state, "--metric", "tokens", "--color", "always"], environment: ["NO_COLOR": nil])
    #expect(forced.stdout == "\u{1B}[32mtokens 1.6k/100k 1% $0.0065\u{1B}[0m\n")
  }

  @Test("a bad format is a usage error; an unknown metric is exit 3 with the reason on stderr")
  func badValues() throws {
    let state = Self.directory()
    let format = try OneShotCommand.run(["status", "--state", state, "--format", "xml"])
    #expect(format.status != 0 && format.status <= 64)
    #expect(format.stderr.contains("--format"))
    let metric = try OneShotCommand.run(["status", "--state", state, "--metric", "nope"])
    #expect(metric.status == 3)
    #expect(metric.stderr.contains("nope"))
    #expect(metric.stdout.isEmpty)
  }

  @Test("status only reads: the ledger file and its integrity mark are left exactly as they were")
  func readOnly() throws {
    let state = Self.directory()
    try Self.call(state, "usage/increment", #"{"metric":"tokens","input":10,"output":5,"labels":{"model":"gpt-4o"}}"#)
    func identity(_ name: String) throws -> [String] {
      let attributes = try FileManager.default.attributesOfItem(atPath: state + "/" + name)
      return ["\(attributes[.size] ?? "")", "\(attributes[.modificationDate] ?? "")"]
    }
    let before = try ["usage.sqlite3", "usage.sqlite3-checked"].map(identity)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: state + "/usage.sqlite3"))
    for _ in 0..<3 {
      let run = try OneShotCommand.run(["status", "--state", state, "--metric", "tokens"])
      #expect(run.status == 0, "\(run.stderr)")
      #expect(run.stdout == "tokens 15/100k 0% $0.0001\n")
    }
    #expect(try ["usage.sqlite3", "usage.sqlite3-checked"].map(identity) == before)
    #expect(try Data(contentsOf: URL(fileURLWithPath: state + "/usage.sqlite3")) == bytes)
    // A later session still finds the ledger as a clean close left it.
    try Self.call(state, "usage/increment", #"{"metric":"requests"}"#)
    #expect(
      try OneShotCommand.run(["status", "--state", state, "--metric", "requests"]).stdout == "requests 1/100 1%\n")
  }
}
