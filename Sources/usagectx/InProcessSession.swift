import Dispatch
import Glibc
import JSON
import Logging
import UsageServer

/// A usagectx session run in this process on a pair of pipes, for the faces that hold one open (`watch`): requests
/// are written as lines, answers and notifications read back as JSON, exactly as a sidecar client sees them.
final class InProcessSession: @unchecked Sendable {
  private let toSession: Int32
  private let fromSession: Int32
  private let finished = DispatchSemaphore(value: 0)
  private var pending: [UInt8] = []
  private var nextID: Int64 = 1
  /// The session's exit code once it ended.
  private let exitCode = ExitCodeBox()

  /// Starts a session with `options`; its logs go to `logger`.
  init(options: Sidecar.Options, logger: Logger) throws {
    var input: [Int32] = [0, 0]
    var output: [Int32] = [0, 0]
    guard pipe(&input) == 0, pipe(&output) == 0 else { throw SessionError("cannot make pipes") }
    toSession = input[1]
    fromSession = output[0]
    let sessionInput = input[0]
    let sessionOutput = output[1]
    let exitCode = exitCode
    let finished = finished
    DispatchQueue.global().async {
      exitCode.value = Sidecar.run(input: sessionInput, output: sessionOutput, options: options, logger: logger)
      close(sessionOutput)
      close(sessionInput)
      finished.signal()
    }
  }

  /// The descriptor answers and notifications are read from (for `poll`).
  var readDescriptor: Int32 { fromSession }

  /// Sends a request; returns its id.
  @discardableResult
  func send(_ method: String, _ params: JSONData? = nil) -> Int64 {
    let id = nextID
    nextID += 1
    var members: [(String, JSONData)] = [("jsonrpc", "2.0"), ("id", .int(id)), ("method", .string(method))]
    if let params { members.append(("params", params)) }
    let line = Array((JSONData.object(members).jsonText + "\n").utf8)
    var offset = 0
    while offset < line.count {
      let written = line[offset...].withUnsafeBytes { write(toSession, $0.baseAddress, $0.count) }
      if written < 0 && errno == EINTR { continue }
      guard written > 0 else { break }
      offset += written
    }
    return id
  }

  /// The messages already complete in what was read, without blocking for more.
  func bufferedMessages() -> [JSONData] {
    var messages: [JSONData] = []
    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
      let line = String(decoding: pending[..<newline], as: UTF8.self)
      pending.removeSubrange(...newline)
      if let message = try? JSONData(parsing: line) { messages.append(message) }  // harmless: not a message to show
    }
    return messages
  }

  /// Reads what the session wrote (blocking until something arrives); `false` once it ended.
  func readAvailable() -> Bool {
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = read(fromSession, &buffer, buffer.count)
      if count < 0 && errno == EINTR { continue }
      guard count > 0 else { return false }
      pending.append(contentsOf: buffer[0..<count])
      return true
    }
  }

  /// Reads until the answer to `id` arrives; messages read meanwhile are passed to `other`. `nil` when the session
  /// ended first.
  func answer(to id: Int64, other: (JSONData) -> Void = { _ in }) -> JSONData? {
    while true {
      for message in bufferedMessages() {
        if message["id"] == .int(id) && message["method"] == nil { return message }
        other(message)
      }
      guard readAvailable() else { return nil }
    }
  }

  /// Ends the session (end of input) and waits for it; returns its exit code.
  @discardableResult
  func finish() -> Int32 {
    close(toSession)
    var buffer = [UInt8](repeating: 0, count: 65536)
    while read(fromSession, &buffer, buffer.count) > 0 {}
    finished.wait()
    close(fromSession)
    return exitCode.value
  }
}

/// A session that could not be started or ended without answering.
struct SessionError: Error, CustomStringConvertible {
  var description: String
  init(_ description: String) { self.description = description }
}
