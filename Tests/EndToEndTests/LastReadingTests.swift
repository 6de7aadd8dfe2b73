import Foundation
import JSON
import Testing

/// A metric held by a source in another place (here an exec plugin) keeps its last accepted reading in the ledger:
/// a restart while that source cannot be read starts from it, plus the changes it has not confirmed, never from 0.
@Suite("Last reading across restarts")
struct LastReadingTests {
  @Test(
    "restarted while its exec authority is down: the last reading and the unconfirmed changes, in error; limits use them"
  )
  func restartWhileDown() throws {
    let state = DurabilityTests.stateDirectory()
    let plugins = try PluginFixtures.makeDirectory()
    let backend = plugins.appendingPathComponent("backend.json")
    let down = plugins.appendingPathComponent("down")
    try Data(#"{"seats": 7}"#.utf8).write(to: backend)
    /// The fixture holds `seats` in `backend`; `reports` says how it answers changes.
    func manifest(reports: String) throws {
      try ExecPluginTests.fixtureManifest(
        "billing", in: plugins,
        arguments: ["--metric", "seats", "--state", backend.path, "--down-file", down.path, reports],
        extra: #", "timeoutMs": 60000"#)
    }
    let arguments = ["--state", state, "--no-default-plugins", "--plugins", plugins.path]
    func seats(_ sidecar: SidecarProcess) throws -> JSONData {
      try #require(try sidecar.call("usage/get", ["metrics": ["seats"]])["metrics"]?["seats"])
    }
    func backendSeats() throws -> JSONData? {
      try JSONData(parsing: String(contentsOf: backend, encoding: .utf8))["seats"]
    }

    try manifest(reports: "--dedupe-keys")
    let first = try SidecarProcess(arguments: arguments)
    #expect(try seats(first)["used"] == 7)
    first.closeInput()
    #expect(try first.waitForExit() == 0)

    // The source is away (reads fail, changes get no answer): the session starts from its last reading, says the
    // source is in error, and checks and enforced increments count with that number (the fixture's limit is 10).
    FileManager.default.createFile(atPath: down.path, contents: Data())
    try manifest(reports: "--ignore-reports")
    let second = try SidecarProcess(arguments: arguments)
    let restarted = try seats(second)
    #expect(restarted["used"] == 7)
    // The start-up read may still be in flight when the first answer is written ("loading"); it fails soon after.
    #expect(try DurabilityTests.eventually(10) { try seats(second)["sync"]?["state"] == "error" })
    #expect(try second.call("usage/check", ["metric": "seats", "amount": 4])["allowed"] == false)
    #expect(try second.call("usage/check", ["metric": "seats", "amount": 3])["allowed"] == true)
    #expect(
      try second.request("usage/increment", ["metric": "seats", "amount": 4, "enforce": true])["error"]?["code"]
        == -32050)
    // A change made meanwhile waits for the source, counted.
    #expect(try second.call("usage/increment", ["metric": "seats", "amount": 2, "key": "seat-a"])["used"] == 9)
    second.closeInput()
    #expect(try second.waitForExit() == 0)

    // Still away: the last reading plus the change it has not confirmed.
    let third = try SidecarProcess(arguments: arguments)
    let waiting = try seats(third)
    #expect(waiting["used"] == 9)
    #expect(waiting["sync"]?["unconfirmed"] == 2)
    #expect(try third.call("usage/check", ["metric": "seats", "amount": 2])["allowed"] == false)
    third.closeInput()
    #expect(try third.waitForExit() == 0)

    // It takes changes again but cannot be read yet: the change reaches it once, and what is kept is the last reading
    // plus the changes it acknowledged, so a restart before it can be read shows neither less nor twice.
    try manifest(reports: "--dedupe-keys")
    let fourth = try SidecarProcess(arguments: arguments)
    #expect(try DurabilityTests.eventually(10) { try seats(fourth)["sync"]?["unconfirmed"] == 0 })
    #expect(try backendSeats() == 9)
    #expect(try fourth.call("usage/increment", ["metric": "seats", "key": "seat-b"])["used"] == 10)
    #expect(try DurabilityTests.eventually(10) { try seats(fourth)["sync"]?["unconfirmed"] == 0 })
    fourth.closeInput()
    #expect(try fourth.waitForExit() == 0)
    let fifth = try SidecarProcess(arguments: arguments)
    let acknowledged = try seats(fifth)
    #expect(acknowledged["used"] == 10)
    #expect(acknowledged["sync"]?["unconfirmed"] == 0)
    #expect(try DurabilityTests.eventually(10) { try seats(fifth)["sync"]?["state"] == "error" })

    // Back: read again, and the source's number is shown.
    try FileManager.default.removeItem(at: down)
    _ = try fifth.call("usage/refresh", ["metrics": ["seats"], "force": true])
    #expect(
      try DurabilityTests.eventually(10) {
        let now = try seats(fifth)
        return now["used"] == 10 && now["sync"]?["unconfirmed"] == 0 && now["sync"]?["state"] == "idle"
      })
    #expect(try backendSeats() == 10)
  }

  @Test("a directory that cannot be read at start (an unmounted drive): documents and storage keep their last reading")
  func directoryAway() throws {
    let workspace = try SourceTests.Workspace()
    try workspace.write("a.md", bytes: 10)
    try workspace.write("notes/b.md", bytes: 20)
    let state = DurabilityTests.stateDirectory()
    let arguments = ["--state", state, "--config", workspace.config.path]
    let first = try SidecarProcess(arguments: arguments)
    let start = try first.call("usage/get", ["metrics": ["documents", "storage"]])
    #expect(SourceTests.usage(start, "documents") == 2)
    #expect(SourceTests.usage(start, "storage") == 30)
    first.closeInput()
    #expect(try first.waitForExit() == 0)

    let away = workspace.directory.appendingPathComponent("unmounted")
    try FileManager.default.moveItem(at: workspace.files, to: away)
    let second = try SidecarProcess(arguments: arguments)
    let restarted = try second.call("usage/get", ["metrics": ["documents", "storage"]])
    #expect(SourceTests.usage(restarted, "documents") == 2)
    #expect(SourceTests.usage(restarted, "storage") == 30)
    #expect(
      try DurabilityTests.eventually(10) {
        try second.call("usage/get", ["metrics": ["documents"]])["metrics"]?["documents"]?["sync"]?["state"] == "error"
      })

    // Back: read again, and what is on disk is shown.
    try FileManager.default.moveItem(at: away, to: workspace.files)
    try workspace.remove("a.md")
    let back = try second.call("usage/refresh", ["metrics": ["documents", "storage"], "force": true])
    #expect(SourceTests.usage(back, "documents") == 1)
    #expect(SourceTests.usage(back, "storage") == 20)
  }
}
