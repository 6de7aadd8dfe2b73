import JSON
import Testing

/// Idempotency keys on increments and decrements: a retried request is applied once.
@Suite("Idempotency keys")
struct IdempotencyTests {
  static func used(_ sidecar: SidecarProcess, _ metric: String = "documents") throws -> JSONData? {
    try sidecar.call("usage/get", ["metrics": [.string(metric)]])["metrics"]?[metric]?["used"]
  }

  @Test(
    "a repeat with the same key gets the first answer and changes nothing", arguments: SidecarProcess.Framing.allCases)
  func repeatIsAppliedOnce(framing: SidecarProcess.Framing) throws {
    let sidecar = try SidecarProcess(framing: framing)
    let first = try sidecar.call("usage/increment", ["metric": "documents", "amount": 2, "key": "retry-1"])
    // Same parameters in another order: still the same request.
    let again = try sidecar.call("usage/increment", ["amount": 2, "key": "retry-1", "metric": "documents"])
    #expect(first == again)
    #expect(try Self.used(sidecar) == 2)
    let other = try sidecar.call("usage/increment", ["metric": "documents", "amount": 2, "key": "retry-2"])
    #expect(other["used"] == 4)
  }

  @Test("the same key with different parameters is refused and applies nothing")
  func conflictingReuse() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 2, "key": "k"])
    let conflict = try sidecar.request("usage/increment", ["metric": "documents", "amount": 3, "key": "k"])
    #expect(conflict["error"]?["code"] == -32602)
    #expect(conflict["error"]?["data"]?["field"] == "key")
    let otherMethod = try sidecar.request("usage/decrement", ["metric": "documents", "amount": 2, "key": "k"])
    #expect(otherMethod["error"]?["data"]?["field"] == "key")
    #expect(try Self.used(sidecar) == 2)
  }

  @Test("decrements honour keys too; a refused request is not remembered")
  func decrementsAndFailures() throws {
    let sidecar = try SidecarProcess()
    _ = try sidecar.call("usage/increment", ["metric": "documents", "amount": 5])
    _ = try sidecar.call("usage/decrement", ["metric": "documents", "amount": 2, "key": "d"])
    _ = try sidecar.call("usage/decrement", ["metric": "documents", "amount": 2, "key": "d"])
    #expect(try Self.used(sidecar) == 3)
    let config: JSONData = ["config": ["metrics": ["documents": ["limits": ["free": 4]]]]]
    _ = try sidecar.call("initialize", config)
    let refused = try sidecar.request(
      "usage/increment", ["metric": "documents", "amount": 2, "enforce": true, "key": "e"])
    #expect(refused["error"]?["code"] == -32050)
    _ = try sidecar.call("usage/decrement", ["metric": "documents", "amount": 1])
    let retried = try sidecar.call(
      "usage/increment", ["metric": "documents", "amount": 2, "enforce": true, "key": "e"])
    #expect(retried["used"] == 4)
  }

  @Test("keys must be non-empty strings of at most 255 bytes")
  func keyValidation() throws {
    let sidecar = try SidecarProcess()
    for bad: JSONData in ["", .string(String(repeating: "k", count: 256)), 7] {
      let answer = try sidecar.request("usage/increment", ["metric": "documents", "key": bad])
      #expect(answer["error"]?["data"]?["field"] == "key")
    }
    #expect(try Self.used(sidecar) == 0)
  }
}
