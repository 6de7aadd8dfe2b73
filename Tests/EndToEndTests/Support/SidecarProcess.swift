import Foundation
import JSON
import TestSupport

/// A `usagectx` process launched from the build folder and driven over real pipes, in either framing.
///
/// Reading is independent of the product's framers: answers are split here with a deliberately simple reader, so a
/// framing bug in the product cannot hide itself in the tests. Every wait is bounded by ``defaultTimeout``.
final class SidecarProcess {
  /// How messages are framed on the way in (answers are expected back in the same framing).
  enum Framing: String, CaseIterable, Sendable {
    case newline
    case contentLength
  }

  enum Failure: Error, CustomStringConvertible {
    case binaryMissing(String)
    case timedOut(String)
    case closed(String)
    case badFrame(String)

    var description: String {
      switch self {
      case .binaryMissing(let path): return "usagectx binary not found at \(path); run swift build first"
      case .timedOut(let what): return "timed out waiting for \(what)"
      case .closed(let what): return "output closed while waiting for \(what)"
      case .badFrame(let text): return "bad frame from usagectx: \(text)"
      }
    }
  }

  let framing: Framing
  let process: SpawnedProcess
  private let input: PipeEnd
  private let output: PipeEnd
  /// Everything usagectx writes to stderr, read on a thread of its own.
  private let errors: OutputCollector
  private var buffer: [UInt8] = []
  private var outputClosed = false
  /// Notifications read while waiting for answers, in arrival order.
  private(set) var notifications: [JSONData] = []

  /// Seconds any single wait may take; `USAGECTX_TEST_TIMEOUT` overrides.
  static var defaultTimeout: Double {
    ProcessInfo.processInfo.environment["USAGECTX_TEST_TIMEOUT"].flatMap(Double.init) ?? 10
  }

  /// The binary under test: `USAGECTX_BIN`, else the one next to the test bundle.
  static var binaryPath: String {
    if let path = ProcessInfo.processInfo.environment["USAGECTX_BIN"] { return path }
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    for candidate in [bundle, bundle.deletingLastPathComponent()] {
      let path = candidate.appendingPathComponent("usagectx").path
      if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return FileManager.default.currentDirectoryPath + "/.build/debug/usagectx"
  }

  /// Launches usagectx with `arguments`; `environment` entries are added to (or, with `nil`, removed from) the
  /// test's own environment.
  init(framing: Framing = .newline, arguments: [String] = [], environment: [String: String?] = [:]) throws {
    self.framing = framing
    let path = Self.binaryPath
    guard FileManager.default.isExecutableFile(atPath: path) else { throw Failure.binaryMissing(path) }
    // Each process gets a state directory of its own (a fresh ledger) unless the test names one.
    var merged = ProcessInfo.processInfo.environment
    merged["XDG_STATE_HOME"] =
      FileManager.default.temporaryDirectory
      .appendingPathComponent("usagectx-state-\(UUID().uuidString)").path
    for (key, value) in environment { merged[key] = value }
    process = try SpawnedProcess(path, arguments, environment: merged, stdin: .pipe, stdout: .pipe, stderr: .pipe)
    guard let input = process.stdin, let output = process.stdout, let errors = process.stderr else {
      preconditionFailure("SpawnedProcess returns the test's end of every piped stream")
    }
    self.input = input
    self.output = output
    self.errors = OutputCollector(errors)
  }

  /// A process still running is asked to end (SIGTERM, as a client going away would), given a few seconds for it,
  /// then killed; either way it is reaped.
  deinit {
    process.end(grace: 5)
    errors.stop()
  }

  var pid: Int32 { process.pid }

  /// Everything written to stderr so far.
  var stderrText: String { errors.text }

  // MARK: - Writing

  /// Sends one message body in this process's framing.
  func send(_ body: String) throws {
    try sendRaw(Self.frame(Array(body.utf8), framing))
  }

  /// Sends an owned JSON value as one message.
  func send(_ message: JSONData) throws { try send(message.jsonText) }

  /// Writes bytes exactly as given.
  func sendRaw(_ bytes: [UInt8]) throws {
    try input.write(bytes)
  }

  func sendRaw(_ text: String) throws { try sendRaw(Array(text.utf8)) }

  /// Frames a body: a newline after it, or a `Content-Length` header before it.
  static func frame(_ body: [UInt8], _ framing: Framing) -> [UInt8] {
    switch framing {
    case .newline: return body + [0x0A]
    case .contentLength: return Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
    }
  }

  /// Closes usagectx's stdin (end of input).
  func closeInput() {
    input.close()
  }

  // MARK: - Reading

  /// The next message usagectx wrote (answer or notification).
  func nextMessage(timeout: Double = SidecarProcess.defaultTimeout) throws -> JSONData {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      if let body = try takeFrame() {
        do {
          return try JSONData(parsing: String(decoding: body, as: UTF8.self), maxDepth: 10_000)
        } catch {
          throw Failure.badFrame(String(decoding: body, as: UTF8.self))
        }
      }
      if outputClosed {
        // What usagectx said on its way out is the first thing to read when this happens.
        _ = errors.waitUntilFinished(timeout: 2)
        throw Failure.closed("a message (usagectx's stderr: \(String(stderrText.suffix(2_000))))")
      }
      try fill(until: deadline, what: "a message")
    }
  }

  /// The next answer (a message with an `id` and no `method`), setting notifications aside.
  func nextResponse(timeout: Double = SidecarProcess.defaultTimeout) throws -> JSONData {
    while true {
      let message = try nextMessage(timeout: timeout)
      if message["method"] != nil && message["id"] == nil {
        notifications.append(message)
        continue
      }
      return message
    }
  }

  /// Sends a request and returns its answer.
  func request(_ method: String, _ params: JSONData? = nil, id: JSONData = 1) throws -> JSONData {
    var members: [(String, JSONData)] = [("jsonrpc", "2.0"), ("id", id), ("method", .string(method))]
    if let params { members.append(("params", params)) }
    try send(.object(members))
    return try nextResponse()
  }

  /// Sends a request and returns its `result`, failing if it got an error.
  func call(_ method: String, _ params: JSONData? = nil) throws -> JSONData {
    let answer = try request(method, params)
    guard let result = answer["result"] else { throw Failure.badFrame("expected a result: \(answer.jsonText)") }
    return result
  }

  /// Sends a notification (no answer expected).
  func notify(_ method: String, _ params: JSONData? = nil) throws {
    var members: [(String, JSONData)] = [("jsonrpc", "2.0"), ("method", .string(method))]
    if let params { members.append(("params", params)) }
    try send(.object(members))
  }

  /// Notifications received so far (including ones already seen), then clears the list.
  func takeNotifications() -> [JSONData] {
    defer { notifications.removeAll() }
    return notifications
  }

  /// Reads everything until usagectx closes its output, returning the messages.
  func readToEnd(timeout: Double = SidecarProcess.defaultTimeout) throws -> [JSONData] {
    var messages: [JSONData] = []
    let deadline = Date().addingTimeInterval(timeout)
    while true {
      while let body = try takeFrame() {
        messages.append(try JSONData(parsing: String(decoding: body, as: UTF8.self), maxDepth: 10_000))
      }
      if outputClosed { return messages }
      try fill(until: deadline, what: "end of output")
    }
  }

  /// Every byte usagectx writes until it closes its output (for checking that nothing but frames appears).
  func rawOutputToEnd(timeout: Double = SidecarProcess.defaultTimeout) throws -> [UInt8] {
    let deadline = Date().addingTimeInterval(timeout)
    while !outputClosed { try fill(until: deadline, what: "end of output") }
    defer { buffer.removeAll() }
    return buffer
  }

  /// `true` when no message arrives within `seconds`.
  func staysQuiet(for seconds: Double) throws -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
      if let _ = try takeFrame(peek: true) { return false }
      if outputClosed { return true }
      do { try fill(until: deadline, what: "quiet") } catch Failure.timedOut { return true }
    }
    return try takeFrame(peek: true) == nil
  }

  /// Waits for the process to exit and returns its exit status (or the number of the signal that ended it), once
  /// stderr has reached its end of file too (or up to two seconds more), so that ``stderrText`` is complete.
  func waitForExit(timeout: Double = SidecarProcess.defaultTimeout) throws -> Int32 {
    let deadline = Date().addingTimeInterval(timeout)
    guard let termination = try process.wait(timeout: timeout) else { throw Failure.timedOut("process exit") }
    errors.waitUntilFinished(timeout: min(deadline.timeIntervalSinceNow, 2))
    return termination.code
  }

  /// Sends a signal to the process.
  func signal(_ number: Int32) { process.kill(number) }

  /// Reads what usagectx wrote next into the buffer, waiting up to a second (and never past `deadline`).
  private func fill(until deadline: Date, what: String) throws {
    let remaining = deadline.timeIntervalSinceNow
    guard remaining > 0 else { throw Failure.timedOut(what) }
    switch try output.read(timeout: min(remaining, 1)) {
    case .bytes(let bytes):
      buffer.append(contentsOf: bytes)
    case .endOfFile:
      outputClosed = true
    case .timedOut:
      if Date() >= deadline { throw Failure.timedOut(what) }
    }
  }

  /// Removes and returns one complete frame body from the buffer, if there is one.
  private func takeFrame(peek: Bool = false) throws -> [UInt8]? {
    switch framing {
    case .newline:
      guard let newline = buffer.firstIndex(of: 0x0A) else { return nil }
      let body = Array(buffer[..<newline])
      if !peek { buffer.removeSubrange(...newline) }
      return body
    case .contentLength:
      let separator: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
      guard let end = buffer.firstRange(of: separator) else { return nil }
      let header = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
      guard header.hasPrefix("Content-Length: "), let length = Int(header.dropFirst("Content-Length: ".count)) else {
        throw Failure.badFrame("header \(header.debugDescription)")
      }
      guard buffer.count >= end.upperBound + length else { return nil }
      let body = Array(buffer[end.upperBound..<(end.upperBound + length)])
      if !peek { buffer.removeSubrange(..<(end.upperBound + length)) }
      return body
    }
  }
}
