import JSON
import Testing

/// What `initialize` accepts from LSP- and MCP-style clients, and what a change of configuration tells the client.
@Suite("Configuration changes")
struct ConfigurationChangeTests {
  @Test("initialize ignores the members LSP and MCP clients send", arguments: SidecarProcess.Framing.allCases)
  func foreignInitializeParams(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let result = try sidecar.call(
      "initialize",
      [
        "processId": nil, "rootUri": nil, "capabilities": ["workspace": [:]], "protocolVersion": "2025-06-18",
        "clientInfo": ["name": "generic-client", "version": "1"],
      ])
    #expect(result["serverInfo"]?["name"] == "usagectx")
  }

  @Test("a limit lowered by initialize announces the crossing it causes")
  func initializeCrossing() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("usage/subscribe", ["metrics": ["documents"]])
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 60])
    _ = sidecar.takeNotifications()
    _ = try sidecar.call("initialize", ["config": ["metrics": ["documents": ["limits": ["free": 50]]]]])
    _ = try sidecar.call("ping")
    let thresholds = sidecar.takeNotifications().filter { $0["method"] == "usage/threshold" }
    #expect(thresholds.count == 1)
    #expect(thresholds.first?["params"]?["level"] == "exceeded")
    #expect(thresholds.first?["params"]?["limit"] == 50)
  }

  @Test("setting the current tier tells subscribers nothing")
  func sameTierIsQuiet() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("usage/subscribe")
    let snapshot = try sidecar.call("usage/setTier", ["tier": "free"])
    #expect(snapshot["version"] == 0)
    _ = try sidecar.call("ping")
    #expect(sidecar.takeNotifications().isEmpty)
    _ = try sidecar.call("usage/setTier", ["tier": "pro"])
    _ = try sidecar.call("ping")
    #expect(sidecar.takeNotifications().contains { $0["method"] == "usage/changed" })
  }

  @Test("usage/check takes a tokens call's fields")
  func checkTokens() throws {
    let sidecar = try SidecarProcess()
    let check = try sidecar.call("usage/check", ["metric": "tokens", "input": 90_000, "output": 20_000])
    #expect(check["requested"] == 110_000)
    #expect(check["allowed"] == false)
    let unknown = try sidecar.request("usage/check", ["metric": "documents", "input": 5])
    #expect(unknown["error"]?["data"]?["field"] == "input")
  }
}
