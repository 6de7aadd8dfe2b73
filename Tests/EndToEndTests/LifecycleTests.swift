import JSON
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
}
