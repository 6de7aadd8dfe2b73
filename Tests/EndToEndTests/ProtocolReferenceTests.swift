import Foundation
import JSON
import Testing

/// Keeps `protocol/` true to the server: every transcript in `protocol/examples` is replayed against the built
/// binary in both framings, and the OpenRPC document is checked against what a live session announces and against
/// every message the transcripts show.
@Suite("Protocol reference")
struct ProtocolReferenceTests {
  // MARK: - Transcripts

  @Test(
    "each transcript replays exactly", arguments: ProtocolReference.transcriptNames, SidecarProcess.Framing.allCases)
  func transcriptReplays(name: String, framing: SidecarProcess.Framing) throws {
    let transcript = try ProtocolReference.transcript(named: name)
    if let failure = try TranscriptReplayer(transcript: transcript, framing: framing).run() {
      Issue.record("\(failure)")
    }
  }

  @Test("protocol/examples holds at least eight well-formed transcripts")
  func transcriptsArePresent() throws {
    let names = ProtocolReference.transcriptNames
    #expect(names.count >= 8, "protocol/examples holds \(names.count) transcripts")
    for name in names { _ = try ProtocolReference.transcript(named: name) }
  }

  // MARK: - The document against a live session

  @Test("the request methods documented are exactly the ones initialize announces")
  func requestMethodsMatchCapabilities() throws {
    let document = try ProtocolDocument.load()
    let result = try ProtocolReference.initializeResult()
    let served = Set(result["capabilities"]?["methods"]?.array?.compactMap(\.string) ?? [])
    #expect(!served.isEmpty)
    let documented = Set(document.requestMethodNames)
    #expect(
      documented == served,
      "only documented: \(documented.subtracting(served)), only served: \(served.subtracting(documented))")
  }

  @Test("info.version is the protocolVersion the server announces")
  func protocolVersionMatches() throws {
    let document = try ProtocolDocument.load()
    let result = try ProtocolReference.initializeResult()
    #expect(document.root["info"]?["version"] == result["protocolVersion"])
    #expect(document.root["openrpc"]?.string?.hasPrefix("1.3") == true)
  }

  @Test("the initialize example shows the metrics, tiers, framings and methods a default session serves")
  func initializeExampleMatchesCapabilities() throws {
    let document = try ProtocolDocument.load()
    let live = try #require(try ProtocolReference.initializeResult()["capabilities"])
    let example = try #require(
      document.method(named: "initialize")?["examples"]?[0]?["result"]?["value"]?["capabilities"],
      "initialize needs an example result with capabilities")
    for member in ["metrics", "tiers", "framings", "methods", "batches", "subscriptions"] {
      let differences = JSONMatch.differences(
        expected: example[member] ?? .null, actual: live[member] ?? .null, path: "capabilities.\(member)")
      #expect(differences.isEmpty, "\(differences.joined(separator: "\n"))")
    }
    // The metric names the document uses as examples are the ones served.
    let names = live["metrics"]?.array?.compactMap { $0["name"]?.string } ?? []
    #expect(document.root["components"]?["schemas"]?["MetricName"]?["examples"] == .array(names.map { .string($0) }))
  }

  @Test("every client notification documented is accepted silently", arguments: SidecarProcess.Framing.allCases)
  func notificationsAreAcceptedSilently(framing: SidecarProcess.Framing) throws {
    let document = try ProtocolDocument.load()
    let names = document.clientNotificationNames
    #expect(Set(names).isSuperset(of: ["exit", "initialized", "$/cancelRequest"]))
    let sidecar = try SidecarProcess(framing: framing)
    for (index, name) in names.enumerated() where name != "exit" {
      let method = try #require(document.method(named: name))
      try sidecar.notify(name, document.exampleParams(of: method))
      let sentinel = JSONData.string("sentinel-\(index)")
      try sidecar.send(["jsonrpc": "2.0", "id": sentinel, "method": "ping"])
      let next = try sidecar.nextMessage()
      #expect(next["id"] == sentinel && next["result"] == .object([]), "after \(name): \(next.jsonText)")
    }
    // exit ends the session without a word: status 1 before shutdown, 0 after it.
    try sidecar.notify("exit")
    #expect(try sidecar.readToEnd().isEmpty)
    #expect(try sidecar.waitForExit() == 1)
    let orderly = try SidecarProcess(framing: framing)
    #expect(try orderly.request("shutdown")["result"] == .null)
    try orderly.notify("exit")
    #expect(try orderly.readToEnd().isEmpty)
    #expect(try orderly.waitForExit() == 0)
  }

  @Test("the documented price table is the one the tokens metric charges")
  func priceTableMatchesCharges() throws {
    let document = try ProtocolDocument.load()
    let table = try #require(document.root["x-priceTable"])
    let models = try #require(table["models"]?.objectMembers)
    #expect(models.count >= 20)
    let sidecar = try SidecarProcess()
    let descriptor = try ProtocolReference.initializeResult()["capabilities"]?["metrics"]?.array?
      .first { $0["name"] == .string("tokens") }
    #expect(descriptor?["currency"] == table["currency"])
    for (model, price) in models {
      let inputPrice = try #require(price["input"]?.number)
      let outputPrice = try #require(price["output"]?.number)
      // A million input tokens cost the input price; a million output tokens more add the output price.
      let first = try sidecar.call(
        "usage/increment", ["metric": "tokens", "input": 1_000_000, "output": 0, "labels": ["model": .string(model)]])
      let entry = first["byModel"]?[model]
      #expect(
        JSONMatch.equal(.double(inputPrice), entry?["cost"] ?? .null), "\(model) input: \(entry?.jsonText ?? "-")")
      #expect(entry?["provider"] == price["provider"], "\(model) provider")
      #expect(entry?["pricedAs"] == .string(model), "\(model) is priced as itself")
      let second = try sidecar.call(
        "usage/increment", ["metric": "tokens", "input": 0, "output": 1_000_000, "labels": ["model": .string(model)]])
      let total = second["byModel"]?[model]?["cost"] ?? .null
      #expect(JSONMatch.equal(.double(inputPrice + outputPrice), total), "\(model) output: \(total.jsonText)")
      // Prompt-cache reads and writes at their own prices.
      let cacheRead = try #require(price["cacheRead"]?.number)
      let cacheWrite = try #require(price["cacheWrite"]?.number)
      let third = try sidecar.call(
        "usage/increment",
        [
          "metric": "tokens", "input": 0, "cacheRead": 1_000_000, "cacheWrite": 1_000_000,
          "labels": ["model": .string(model)],
        ])
      let cached = (third["byModel"]?[model]?["cost"]?.number ?? 0) - (total.number ?? 0)
      #expect(abs(cached - (cacheRead + cacheWrite)) < 1e-9, "\(model) cache: \(cached)")
    }
  }

  @Test("the framing-level parse errors the transcripts cannot show carry their documented reasons")
  func framingReasonsAreDocumented() throws {
    let document = try ProtocolDocument.load()
    let reasons = Set(
      document.errorsByCode[-32700]?["x-dataSchema"]?["properties"]?["reason"]?["enum"]?.array?.compactMap(\.string)
        ?? [])
    #expect(reasons == ["invalidJSON", "invalidHeader", "truncated", "stalled"])
    func reason(of answer: JSONData) -> String? {
      answer["id"] == .null && answer["error"]?["code"] == .int(-32700)
        ? answer["error"]?["data"]?["reason"]?.string : nil
    }
    // Only Content-Length framing has headers to get wrong.
    let headers = try SidecarProcess(framing: .contentLength)
    try headers.sendRaw("Content-Length: twelve\r\n\r\n")
    #expect(reason(of: try headers.nextMessage()) == "invalidHeader")
    // A frame cut short by the end of input.
    try headers.sendRaw("Content-Length: 40\r\n\r\n{\"jsonrpc\":\"2.0\"")
    headers.closeInput()
    let end = try headers.readToEnd()
    #expect(end.count == 1 && reason(of: end[0]) == "truncated", "\(end.map(\.jsonText))")
    // A line that stops arriving before its newline.
    let stalled = try SidecarProcess(arguments: ["--partial-frame-timeout", "1"])
    try stalled.sendRaw("{\"jsonrpc\":\"2.0\",\"id\":1,")
    #expect(reason(of: try stalled.nextMessage(timeout: 5)) == "stalled")
  }

  @Test("a session without a ledger refuses usage/history with the documented noLedger reason")
  func noLedgerReasonIsDocumented() throws {
    let document = try ProtocolDocument.load()
    let invalidRequest = try #require(document.errorsByCode[-32600])
    #expect(invalidRequest["x-reasons"]?["noLedger"]?.string != nil, "x-reasons does not explain noLedger")
    #expect(
      document.errorCodes(of: try #require(document.method(named: "usage/history"))).isSuperset(of: [
        -32602, -32600, -32603,
      ]))
    let sidecar = try SidecarProcess(arguments: ["--no-state"])
    let answer = try sidecar.request("usage/history", ["metric": "documents"])
    let error = try #require(answer["error"], "\(answer.jsonText)")
    #expect(error["code"] == .int(-32600) && error["data"]?["reason"] == .string("noLedger"), "\(answer.jsonText)")
    let schema = try #require(invalidRequest["x-dataSchema"])
    let problems = SchemaValidator(document: document).problems(error["data"] ?? .null, schema, at: "error -32600 data")
    #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
  }

  // MARK: - The document against the transcripts

  /// Codes no transcript can show, and why. -32800 answers a `usage/refresh` cancelled while it waits, and -32603 one
  /// still waiting when `exit` arrives (both in `focus-and-cancel.jsonl`); -32051 needs a ledger another process
  /// locks, which `DurabilityTests` sets up; -32052 an exec plugin that does not take changes (`ExecOutboxTests`).
  static let unreachableCodes: [Int64: String] = [
    -32051: "a failed commit needs the ledger locked by another process (DurabilityTests.lockedLedger)",
    -32052: "a full outbox needs an exec plugin that does not take changes (ExecOutboxTests.outboxLimit)",
  ]

  @Test("every error code a transcript shows is declared, and every declared code is shown")
  func errorCodesAreDeclaredAndShown() throws {
    let document = try ProtocolDocument.load()
    let declared = Set(document.errorsByCode.keys)
    #expect(declared == [-32700, -32600, -32601, -32602, -32603, -32800, -32050, -32051, -32052])
    var shown: Set<Int64> = []
    for transcript in try ProtocolReference.transcripts() {
      for message in transcript.expectedMessages {
        if let code = message["error"]?["code"]?.int {
          shown.insert(code)
          #expect(declared.contains(code), "\(transcript.name) shows undeclared error code \(code)")
        }
      }
    }
    for code in declared.subtracting(shown) {
      #expect(Self.unreachableCodes[code] != nil, "error \(code) is declared but no transcript shows it")
    }
    for code in Self.unreachableCodes.keys {
      #expect(!shown.contains(code), "error \(code) is listed as unreachable but a transcript shows it")
    }
  }

  @Test("every documented method and notification is sent in at least one transcript")
  func everyMethodIsExercised() throws {
    let document = try ProtocolDocument.load()
    var sent: Set<String> = []
    var received: Set<String> = []
    for transcript in try ProtocolReference.transcripts() {
      sent.formUnion(transcript.sentMessages.compactMap { $0["method"]?.string })
      received.formUnion(transcript.expectedMessages.compactMap { $0["method"]?.string })
    }
    for name in document.methodNames {
      #expect(sent.contains(name), "no transcript sends \(name)")
    }
    let serverNotifications = Set(document.serverNotifications.compactMap { $0["name"]?.string })
    #expect(serverNotifications == received, "documented: \(serverNotifications), seen: \(received)")
  }

  @Test("every notification the server's sources send to the client is documented under x-notifications")
  func sentNotificationsAreDocumented() throws {
    let document = try ProtocolDocument.load()
    let documented = Set(document.serverNotifications.compactMap { $0["name"]?.string })
    let sent = try ProtocolReference.notificationsSentBySources()
    #expect(sent.isSuperset(of: ["usage/changed", "usage/threshold"]), "found in Sources: \(sent)")
    let undocumented = sent.subtracting(documented)
    let neverSent = documented.subtracting(sent)
    #expect(sent == documented, "sent but not documented: \(undocumented), documented but never sent: \(neverSent)")
  }

  @Test("every notification the MCP face sends is documented in protocol/mcp.md")
  func mcpNotificationsAreDocumented() throws {
    let sent = try ProtocolReference.notificationsSentBySources(mcp: true)
    #expect(sent.contains("notifications/resources/updated"), "found in Sources/UsageServer/MCP: \(sent)")
    let text = try String(
      contentsOf: ProtocolReference.root.appendingPathComponent("protocol/mcp.md"), encoding: .utf8)
    for name in sent { #expect(text.contains("`\(name)"), "protocol/mcp.md does not name \(name)") }
  }

  @Test("every answer and notification in the transcripts fits the document's schemas and error lists")
  func transcriptsFitTheSchemas() throws {
    let document = try ProtocolDocument.load()
    let validator = SchemaValidator(document: document)
    for transcript in try ProtocolReference.transcripts() {
      var methodsByID: [String: String] = [:]
      for line in transcript.lines {
        let problems: [String]
        switch line.step {
        case .send(_, let message):
          for request in message.array ?? [message] {
            guard let id = request["id"], let method = request["method"]?.string else { continue }
            methodsByID[id.jsonText] = method
          }
          continue
        case .expect(let message):
          problems = (message.array ?? [message]).flatMap { answer in
            validator.problems(withMessage: answer, methodsByID: methodsByID)
          }
        default:
          continue
        }
        #expect(problems.isEmpty, "\(transcript.name):\(line.number):\n\(problems.joined(separator: "\n"))")
      }
    }
  }

  @Test("the document is well formed: references resolve, requests have results, notifications have none")
  func documentIsWellFormed() throws {
    let document = try ProtocolDocument.load()
    #expect(document.root["info"]?["title"] == .string("usagectx"))
    let description = document.root["info"]?["description"]?.string ?? ""
    let topics = [
      "Content-Length", "newline", "initialize", "shutdown", "exit", "subscription", "coalesced", "authority",
      "offline", "usage.sqlite3", "--ack", "--no-state", "converge",
    ]
    for topic in topics {
      #expect(description.contains(topic), "info.description does not mention \(topic)")
    }
    var unresolved: [String] = []
    document.forEachReference { reference in
      if document.lookup(reference) == nil { unresolved.append(reference) }
    }
    #expect(unresolved.isEmpty, "unresolved references: \(unresolved)")
    for method in document.methods {
      let name = method["name"]?.string ?? "?"
      #expect(method["params"]?.array != nil, "\(name) lists no params")
      if document.isNotification(method) {
        #expect(method["result"] == nil, "notification \(name) has a result")
      } else {
        #expect(method["result"]?["schema"] != nil, "request \(name) has no result schema")
        let errors = method["errors"]?.array ?? []
        #expect(errors.count > 0, "request \(name) lists no errors")
      }
    }
    for schema in [
      "MetricState", "Snapshot", "CheckResult", "ThresholdCrossing", "MetricDescriptor", "BreakdownEntry", "SyncStatus",
      "RefreshSettings", "HistoryResult", "HistoryRow",
    ] {
      #expect(document.root["components"]?["schemas"]?[schema] != nil, "components.schemas.\(schema) is missing")
    }
    // Examples in the document fit its own schemas.
    let validator = SchemaValidator(document: document)
    for method in document.methods {
      for example in method["examples"]?.array ?? [] {
        guard let value = example["result"]?["value"], let schema = method["result"]?["schema"] else { continue }
        let problems = validator.problems(value, schema, at: "\(method["name"]?.string ?? "?").example")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
      }
    }
  }
}

// MARK: - Support

/// Where the reference lives and how to read it.
enum ProtocolReference {
  /// The repository root, found from this file's place in `Tests/EndToEndTests`.
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
  static let examples = root.appendingPathComponent("protocol/examples")
  static let document = root.appendingPathComponent("protocol/usagectx.openrpc.json")

  /// File names of the transcripts, sorted.
  static var transcriptNames: [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: examples.path)) ?? []
    return names.filter { $0.hasSuffix(".jsonl") }.sorted()
  }

  static func transcript(named name: String) throws -> Transcript {
    try Transcript(contentsOf: examples.appendingPathComponent(name))
  }

  static func transcripts() throws -> [Transcript] {
    try transcriptNames.map(transcript(named:))
  }

  /// The names of the notifications the server writes to its client: every `.notify("name")` in `Sources`, except in
  /// the plugin host, which speaks to plugin programs rather than to the client.
  static func notificationsSentBySources(mcp: Bool = false) throws -> Set<String> {
    let sources = root.appendingPathComponent("Sources")
    let pattern = try Regex(#"\.notify\(\s*"([^"]+)""#)
    var names: Set<String> = []
    let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil)
    while let url = files?.nextObject() as? URL {
      // The MCP face (Sources/UsageServer/MCP) speaks another protocol, documented in protocol/mcp.md.
      guard url.pathExtension == "swift", !url.pathComponents.contains("PluginHost"),
        url.pathComponents.contains("MCP") == mcp
      else { continue }
      let text = try String(contentsOf: url, encoding: .utf8)
      for match in text.matches(of: pattern) {
        if let name = match.output[1].substring { names.insert(String(name)) }
      }
    }
    return names
  }

  /// The `initialize` result of a session started with default flags.
  static func initializeResult() throws -> JSONData {
    let sidecar = try SidecarProcess()
    return try sidecar.call("initialize", ["clientInfo": ["name": "protocol-reference-tests"]])
  }
}

/// The OpenRPC document, parsed.
struct ProtocolDocument {
  let root: JSONData

  static func load() throws -> ProtocolDocument {
    let text = try String(contentsOf: ProtocolReference.document, encoding: .utf8)
    return ProtocolDocument(root: try JSONData(parsing: text, maxDepth: 1000))
  }

  var methods: [JSONData] { root["methods"]?.array ?? [] }
  var methodNames: [String] { methods.compactMap { $0["name"]?.string } }

  func isNotification(_ method: JSONData) -> Bool { method["x-notification"] == .bool(true) }

  /// Methods that get an answer.
  var requestMethodNames: [String] { methods.filter { !isNotification($0) }.compactMap { $0["name"]?.string } }
  /// Client → server notifications.
  var clientNotificationNames: [String] { methods.filter(isNotification).compactMap { $0["name"]?.string } }
  /// Server → client notifications.
  var serverNotifications: [JSONData] { root["x-notifications"]?.array ?? [] }

  func method(named name: String) -> JSONData? { methods.first { $0["name"]?.string == name } }

  /// `components.errors`, by code.
  var errorsByCode: [Int64: JSONData] {
    var result: [Int64: JSONData] = [:]
    for (_, error) in root["components"]?["errors"]?.objectMembers ?? [] {
      if let code = error["code"]?.int { result[code] = error }
    }
    return result
  }

  /// The codes a method declares it can return.
  func errorCodes(of method: JSONData) -> Set<Int64> {
    Set((method["errors"]?.array ?? []).compactMap { resolve($0)["code"]?.int })
  }

  /// The value a `#/...` reference points at.
  func lookup(_ reference: String) -> JSONData? {
    guard reference.hasPrefix("#/") else { return nil }
    var current: JSONData? = root
    for part in reference.dropFirst(2).split(separator: "/") { current = current?[String(part)] }
    return current
  }

  /// `value`, or what it refers to when it is a `{"$ref": ...}`.
  func resolve(_ value: JSONData) -> JSONData {
    guard let reference = value["$ref"]?.string, let target = lookup(reference) else { return value }
    return target
  }

  /// Calls `body` with every `$ref` in the document.
  func forEachReference(_ body: (String) -> Void) {
    func walk(_ value: JSONData) {
      switch value {
      case .object(let members):
        for (key, member) in members {
          if key == "$ref", let reference = member.string { body(reference) } else { walk(member) }
        }
      case .array(let elements): elements.forEach(walk)
      default: break
      }
    }
    walk(root)
  }

  /// The by-name params object a method (or notification) takes, as one object schema.
  func paramsSchema(of method: JSONData) -> JSONData {
    var properties: [(String, JSONData)] = []
    var required: [JSONData] = []
    for descriptor in method["params"]?.array ?? [] {
      guard let name = descriptor["name"]?.string else { continue }
      properties.append((name, descriptor["schema"] ?? [:]))
      if descriptor["required"] == .bool(true) { required.append(.string(name)) }
    }
    return [
      "type": "object", "properties": .object(properties), "required": .array(required), "additionalProperties": false,
    ]
  }

  /// The params of a method's first example, as an object (or `nil` when it has none).
  func exampleParams(of method: JSONData) -> JSONData? {
    guard let params = method["examples"]?[0]?["params"]?.array, !params.isEmpty else { return nil }
    return .object(params.compactMap { pair in pair["name"]?.string.map { ($0, pair["value"] ?? .null) } })
  }
}

/// Checks JSON values against the subset of JSON Schema the document uses; any other keyword is reported, so a
/// constraint is never silently skipped. The string `"$any"` (a transcript wildcard) fits every schema.
struct SchemaValidator {
  let document: ProtocolDocument

  /// Keywords that only annotate.
  private static let annotations: Set<String> = ["description", "default", "examples", "format", "title"]

  /// What is wrong with one message usagectx wrote, given the methods of the requests sent so far by id.
  func problems(withMessage message: JSONData, methodsByID: [String: String]) -> [String] {
    if let name = message["method"]?.string {
      guard let notification = document.serverNotifications.first(where: { $0["name"]?.string == name }) else {
        return ["notification \(name) is not documented under x-notifications"]
      }
      return problems(message["params"] ?? .null, document.paramsSchema(of: notification), at: name)
    }
    let id = message["id"] ?? .null
    let method = id == .null ? nil : methodsByID[id.jsonText].flatMap(document.method(named:))
    let methodName = method?["name"]?.string ?? "?"
    if let result = message["result"] {
      guard let method, let schema = method["result"]?["schema"] else {
        return ["a result for id \(id.jsonText), which is no documented request"]
      }
      return problems(result, schema, at: "\(methodName) result")
    }
    guard let error = message["error"], let code = error["code"]?.int else {
      return ["neither a result, an error nor a notification: \(message.jsonText)"]
    }
    guard let declared = document.errorsByCode[code] else { return ["error code \(code) is not declared"] }
    var found: [String] = []
    if let method, !document.errorCodes(of: method).contains(code) {
      found.append("\(methodName) answered \(code), which its errors list does not name")
    }
    if let prefix = declared["message"]?.string, error["message"]?.string?.hasPrefix(prefix) != true {
      found.append("error \(code) message \(error["message"]?.jsonText ?? "none") does not start with \(prefix)")
    }
    if let schema = declared["x-dataSchema"] {
      found += problems(error["data"] ?? .null, schema, at: "error \(code) data")
    } else if let data = error["data"] {
      found.append("error \(code) has data \(data.jsonText) but declares no x-dataSchema")
    }
    return found
  }

  /// What keeps `value` from fitting `schema`; empty when it fits.
  func problems(_ value: JSONData, _ schema: JSONData, at path: String) -> [String] {
    if value == JSONMatch.wildcard { return [] }
    guard let keywords = schema.objectMembers else { return ["\(path): the schema is not an object"] }
    if let reference = schema["$ref"]?.string {
      guard let target = document.lookup(reference) else { return ["\(path): unresolved \(reference)"] }
      return problems(value, target, at: path)
    }
    var found: [String] = []
    for (keyword, argument) in keywords {
      switch keyword {
      case "type":
        let types = argument.string.map { [$0] } ?? argument.array?.compactMap(\.string) ?? []
        if !types.contains(where: { Self.fits(value, type: $0) }) {
          found.append("\(path): expected \(types.joined(separator: " or ")), got \(value.jsonText)")
        }
      case "enum":
        if !(argument.array ?? []).contains(where: { JSONMatch.equal($0, value) }) {
          found.append("\(path): \(value.jsonText) is not one of \(argument.jsonText)")
        }
      case "const":
        if !JSONMatch.equal(argument, value) {
          found.append("\(path): expected \(argument.jsonText), got \(value.jsonText)")
        }
      case "minimum", "maximum", "exclusiveMinimum":
        guard let number = value.number, let bound = argument.number else { continue }
        let fits = keyword == "minimum" ? number >= bound : keyword == "maximum" ? number <= bound : number > bound
        if !fits { found.append("\(path): \(value.jsonText) breaks \(keyword) \(argument.jsonText)") }
      case "minLength", "maxLength":
        guard let text = value.string, let bound = argument.int else { continue }
        let fits = keyword == "minLength" ? text.count >= bound : text.count <= bound
        if !fits { found.append("\(path): \(value.jsonText) breaks \(keyword) \(bound)") }
      case "maxProperties":
        if let members = value.objectMembers, let bound = argument.int, members.count > bound {
          found.append("\(path): more than \(bound) members")
        }
      case "required":
        guard value.objectMembers != nil else { continue }
        for name in argument.array?.compactMap(\.string) ?? [] where value[name] == nil {
          found.append("\(path): missing required member \(name)")
        }
      case "items":
        for (index, element) in (value.array ?? []).enumerated() {
          found += problems(element, argument, at: "\(path)[\(index)]")
        }
      case "properties", "patternProperties", "additionalProperties":
        continue  // checked together below
      default:
        if !Self.annotations.contains(keyword) { found.append("\(path): unsupported schema keyword \(keyword)") }
      }
    }
    guard let members = value.objectMembers else { return found }
    let properties = schema["properties"]?.objectMembers ?? []
    let patterns = schema["patternProperties"]?.objectMembers ?? []
    for (key, member) in members {
      if let property = properties.first(where: { $0.0 == key }) {
        found += problems(member, property.1, at: "\(path).\(key)")
        continue
      }
      var matched = false
      for (pattern, subschema) in patterns {
        guard let regex = try? Regex(pattern), key.firstMatch(of: regex) != nil else { continue }
        matched = true
        found += problems(member, subschema, at: "\(path).\(key)")
      }
      if matched { continue }
      switch schema["additionalProperties"] {
      case .bool(false)?: found.append("\(path): unexpected member \(key)")
      case let additional? where additional.objectMembers != nil:
        found += problems(member, additional, at: "\(path).\(key)")
      default: break
      }
    }
    return found
  }

  private static func fits(_ value: JSONData, type: String) -> Bool {
    switch (type, value) {
    case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): return true
    case ("number", .int), ("number", .double), ("integer", .int): return true
    case ("integer", .double(let number)): return number == number.rounded()
    default: return false
    }
  }
}
