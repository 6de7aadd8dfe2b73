import Foundation
import JSON
import TestSupport
import Testing

/// The session's life: answering in the client's framing, initialize, shutdown, exit codes.
@Suite("Lifecycle")
struct LifecycleTests {
  @Test("ping is answered with an empty object in both framings", arguments: SidecarProcess.Framing.allCases)
  func ping(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let answer = try sidecar.request("ping", id: 7)
    #expect(answer == ["jsonrpc": "2.0", "id": 7, "result": [:]])
    sidecar.closeInput()
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test(
    "initialize describes the server, its metrics and the current usage", arguments: SidecarProcess.Framing.allCases)
  func initialize(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let answer = try sidecar.request("initialize", ["clientInfo": ["name": "tests", "version": "1"]], id: 1)
    #expect(answer["id"] == 1)
    let result = try #require(answer["result"], "\(answer.jsonText)")
    #expect(result["serverInfo"]?["name"] == "usagectx")
    #expect(result["serverInfo"]?["version"]?.string?.isEmpty == false)
    #expect(result["protocolVersion"]?.string?.isEmpty == false)
    let metrics = try #require(result["capabilities"]?["metrics"]?.array)
    let names = Set(metrics.compactMap { $0["name"]?.string })
    #expect(names.isSuperset(of: ["documents", "storage", "requests", "tokens"]))
    let snapshot = try #require(result["snapshot"])
    #expect(snapshot["version"]?.int != nil)
    #expect(snapshot["tier"] == "free")
    for name in names {
      #expect(snapshot["metrics"]?[name]?["used"] == 0, "\(name)")
    }
    // The snapshot is the same one usage/get gives.
    #expect(try sidecar.snapshot() == snapshot)
  }

  @Test("a second initialize is refused and changes nothing", arguments: SidecarProcess.Framing.allCases)
  func secondInitialize(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    _ = try sidecar.call("initialize", ["tier": "pro"])
    let again = try sidecar.request("initialize", ["tier": "ultra"], id: 2)
    expectError(again, code: -32600, id: 2, reason: "alreadyInitialized")
    #expect(try sidecar.snapshot()["tier"] == "pro")
  }

  @Test("without initialize, piped requests are answered in order", arguments: SidecarProcess.Framing.allCases)
  func worksWithoutInitialize(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    var script: [UInt8] = []
    for id in 1...5 {
      let body =
        #"{"jsonrpc":"2.0","id":\#(id),"method":"usage/increment","params":{"metric":"documents","amount":\#(id)}}"#
      script += SidecarProcess.frame(Array(body.utf8), framing)
    }
    script += SidecarProcess.frame(Array(#"{"jsonrpc":"2.0","id":6,"method":"usage/get"}"#.utf8), framing)
    try sidecar.sendRaw(script)
    sidecar.closeInput()
    let answers = try sidecar.readToEnd()
    #expect(answers.map { $0["id"] } == [1, 2, 3, 4, 5, 6])
    #expect(answers.prefix(5).map { $0["result"]?["used"] } == [1, 3, 6, 10, 15])
    #expect(answers.last?["result"]?["metrics"]?["documents"]?["used"] == 15)
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("shutdown, then requests are refused, then exit ends with 0", arguments: SidecarProcess.Framing.allCases)
  func shutdownThenExit(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    _ = try sidecar.call("initialize")
    #expect(try sidecar.request("shutdown", id: 1) == ["jsonrpc": "2.0", "id": 1, "result": nil])
    expectError(try sidecar.request("ping", id: 2), code: -32600, id: 2, reason: "shutDown")
    expectError(try sidecar.request("usage/get", id: "three"), code: -32600, id: "three", reason: "shutDown")
    expectError(try sidecar.request("shutdown", id: 4), code: -32600, id: 4, reason: "shutDown")
    // Notifications other than exit are dropped silently.
    try sidecar.notify("usage/increment", ["metric": "documents"])
    #expect(try sidecar.staysQuiet(for: 0.2))
    #expect(sidecar.process.isRunning)
    try sidecar.notify("exit")
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("exit without shutdown ends with 1", arguments: SidecarProcess.Framing.allCases)
  func exitWithoutShutdown(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    #expect(try sidecar.request("ping", id: 1)["result"] == [:])
    try sidecar.notify("exit")
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 1)
  }

  @Test("requests sent before exit in the same write are answered first", arguments: SidecarProcess.Framing.allCases)
  func answersBeforeExitAreFlushed(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let bodies = [
      #"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, #"{"jsonrpc":"2.0","id":2,"method":"shutdown"}"#,
      #"{"jsonrpc":"2.0","method":"exit"}"#, #"{"jsonrpc":"2.0","id":3,"method":"ping"}"#,
    ]
    try sidecar.sendRaw(bodies.flatMap { SidecarProcess.frame(Array($0.utf8), framing) })
    let answers = try sidecar.readToEnd()
    #expect(answers == [["jsonrpc": "2.0", "id": 1, "result": [:]], ["jsonrpc": "2.0", "id": 2, "result": nil]])
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test(
    "end of input ends the session with 0, shut down or not", arguments: [false, true], SidecarProcess.Framing.allCases)
  func endOfInput(shutDownFirst: Bool, framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    if shutDownFirst { _ = try sidecar.request("shutdown") }
    sidecar.closeInput()
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("end of input before any byte ends the session with 0")
  func emptyInput() throws {
    let sidecar = try SidecarProcess()
    sidecar.closeInput()
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 0)
  }

  @Test("SIGTERM ends the session with 0 after flushing every answer", arguments: SidecarProcess.Framing.allCases)
  func sigterm(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    // One round trip first, so the signal arrives once the server is listening for it.
    #expect(try sidecar.request("ping", id: 0)["result"] == [:])
    let script = (1...50).flatMap { id in
      SidecarProcess.frame(Array(#"{"jsonrpc":"2.0","id":\#(id),"method":"usage/get"}"#.utf8), framing)
    }
    try sidecar.sendRaw(script)
    sidecar.signal(SIGTERM)
    let started = Date()
    let answers = try sidecar.readToEnd(timeout: 5)
    #expect(answers.map { $0["id"]?.int } == (1...50).map { Int64($0) })
    #expect(answers.allSatisfy { $0["result"]?["metrics"] != nil })
    #expect(try sidecar.waitForExit(timeout: 5) == 0)
    #expect(Date().timeIntervalSince(started) < 2)
    #expect(sidecar.process.termination?.exitStatus != nil)
  }

  @Test(
    "SIGTERM or SIGINT while idle ends the session promptly with 0", arguments: [SIGTERM, SIGINT],
    SidecarProcess.Framing.allCases)
  func signalWhileIdle(signal: Int32, framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    #expect(try sidecar.request("ping", id: 0)["result"] == [:])
    #expect(try sidecar.staysQuiet(for: 0.2))
    let started = Date()
    sidecar.signal(signal)
    #expect(try sidecar.waitForExit(timeout: 5) == 0)
    #expect(Date().timeIntervalSince(started) < 2)
    #expect(sidecar.process.termination?.exitStatus != nil)
  }

  /// A `sleep` process standing in for the client.
  static func startClient() throws -> SpawnedProcess {
    try SpawnedProcess("/bin/sleep", ["30"])
  }

  /// Kills the stand-in client, reaps it, and requires usagectx to exit within about three seconds.
  static func killClientAndExpectExit(_ client: SpawnedProcess, _ sidecar: SidecarProcess) throws {
    #expect(try sidecar.staysQuiet(for: 0.3))
    #expect(sidecar.process.isRunning)
    // SIGKILL: nothing the client could catch or ignore.
    client.kill(SIGKILL)
    try client.wait()
    let started = Date()
    let status = try sidecar.waitForExit(timeout: 6)
    let waited = Date().timeIntervalSince(started)
    #expect(waited < 3.5, "exited \(waited) s after the client")
    #expect(sidecar.process.termination?.exitStatus != nil)
    #expect(status == 1, "the client vanished without shutdown")
  }

  @Test(
    "--client-process-id: usagectx exits soon after that process is gone", arguments: SidecarProcess.Framing.allCases)
  func clientProcessOption(framing: SidecarProcess.Framing) throws {
    let client = try Self.startClient()
    defer { if client.isRunning { client.kill(SIGKILL) } }
    let sidecar = try SidecarProcess(
      framing: framing, arguments: ["--client-process-id", "\(client.pid)"])
    #expect(try sidecar.request("ping", id: 1)["result"] == [:])
    try Self.killClientAndExpectExit(client, sidecar)
  }

  @Test(
    "initialize.processId: usagectx exits soon after that process is gone", arguments: SidecarProcess.Framing.allCases)
  func clientProcessFromInitialize(framing: SidecarProcess.Framing) throws {
    let client = try Self.startClient()
    defer { if client.isRunning { client.kill(SIGKILL) } }
    let sidecar = try SidecarProcess(framing: framing)
    _ = try sidecar.call("initialize", ["processId": .int(Int64(client.pid))])
    try Self.killClientAndExpectExit(client, sidecar)
  }

  @Test(
    "a client that ended but is not reaped yet (a zombie) counts as gone", arguments: SidecarProcess.Framing.allCases)
  func zombieClient(framing: SidecarProcess.Framing) throws {
    let client = try Self.startClient()
    defer { client.end() }
    let sidecar = try SidecarProcess(framing: framing)
    _ = try sidecar.call("initialize", ["processId": .int(Int64(client.pid))])
    #expect(try sidecar.staysQuiet(for: 0.3))
    // Killed and left unreaped: its pid still names a (zombie) process until the test reaps it at the end.
    client.kill(SIGKILL)
    let started = Date()
    let status = try sidecar.waitForExit(timeout: 6)
    #expect(Date().timeIntervalSince(started) < 3.5)
    #expect(status == 1, "the client vanished without shutdown")
  }

  @Test(
    "initialize refuses a processId that cannot be a process", arguments: [JSONData(0), -1, "123", 1.5, 4_294_967_296])
  func invalidProcessID(processId: JSONData) throws {
    let sidecar = try SidecarProcess()
    let answer = try sidecar.request("initialize", ["processId": processId], id: 1)
    expectError(answer, code: -32602, id: 1, field: "processId")
    #expect(sidecar.process.isRunning)
  }

  @Test(
    "notifications are never answered, but request methods sent as notifications run",
    arguments: SidecarProcess.Framing.allCases)
  func notificationsNeverAnswered(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    try sidecar.notify("usage/increment", ["metric": "documents", "amount": 2])
    try sidecar.notify("usage/increment", ["metric": "documents"])
    try sidecar.notify("usage/increment", ["metric": "nope"])
    try sidecar.notify("ping")
    try sidecar.notify("no/such/notification", ["x": 1])
    try sidecar.notify("initialized")
    try sidecar.notify("$/cancelRequest", ["id": 1])
    try sidecar.send(#"[{"jsonrpc":"2.0","method":"usage/increment","params":{"metric":"documents"}}]"#)
    try sidecar.expectNothingMore()
    #expect(try sidecar.snapshot()["metrics"]?["documents"]?["used"] == 4)
  }
}
