import ArgumentParser
import Dispatch
import Glibc
import JSON
import UsageServer

/// `usagectx call METHOD [PARAMS]`: runs one request in a session on the state directory and prints its result, so
/// a shell script can record usage without holding a sidecar open. The change is committed before the result is
/// printed; other sessions on the same state directory see it within a second.
struct CallCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "call",
    abstract: "Run one request against the state directory and print its result.",
    discussion: """
      Prints the result as one line of JSON on stdout and exits 0; a JSON-RPC error is printed on stderr with exit \
      code 1. A session that cannot start exits 2 with the message on stderr: a ledger that is damaged, not a \
      usagectx ledger or of a newer schema (the message names the file, which is left as it was), or a refused \
      configuration. Example: usagectx call usage/increment '{"metric":"requests"}'
      """)

  @Argument(help: "The method, e.g. usage/increment.")
  var method: String

  @Argument(help: "Its params as a JSON object (or array).")
  var params: String?

  @OptionGroup var options: ServeOptions

  func run() throws {
    var request: [(String, JSONData)] = [("jsonrpc", "2.0"), ("id", 1), ("method", .string(method))]
    if let params {
      let parsed: JSONData
      do {
        parsed = try JSONData(parsing: params)
      } catch {
        throw ValidationError("params are not JSON: \(error)")
      }
      guard parsed.objectMembers != nil || parsed.array != nil else {
        throw ValidationError("params must be a JSON object or array")
      }
      request.append(("params", parsed))
    }
    let answer = try Self.answer(to: JSONData.object(request).jsonText, options: options)
    if let result = answer["result"] {
      print(result.jsonText)
      return
    }
    Self.printError(answer["error"]?.jsonText ?? answer.jsonText)
    throw ExitCode(1)
  }

  /// Writes `text` and a newline to stderr.
  static func printError(_ text: String) {
    let line = text + "\n"
    _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
  }

  /// Runs a session that reads `line` and ends; returns its answer. A session that ends without one exits with the
  /// session's exit code (2 for a ledger it refused, whose message is already on stderr).
  static func answer(to line: String, options: ServeOptions) throws -> JSONData {
    var toServer: [Int32] = [0, 0]
    var fromServer: [Int32] = [0, 0]
    guard pipe(&toServer) == 0, pipe(&fromServer) == 0 else { throw ExitCode.failure }
    let text = line + "\n"
    _ = text.utf8CString.withUnsafeBufferPointer { write(toServer[1], $0.baseAddress, $0.count - 1) }
    close(toServer[1])
    let sidecarOptions = try options.sidecarOptions()
    let logger = options.makeLogger()
    let input = toServer[0]
    let output = fromServer[1]
    let finished = DispatchSemaphore(value: 0)
    let exitCode = ExitCodeBox()
    DispatchQueue.global().async {
      exitCode.value = Sidecar.run(input: input, output: output, options: sidecarOptions, logger: logger)
      close(output)
      finished.signal()
    }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = read(fromServer[0], &buffer, buffer.count)
      if count <= 0 { break }
      bytes.append(contentsOf: buffer[0..<count])
    }
    finished.wait()
    close(fromServer[0])
    close(input)
    for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
      // harmless: a line that is not JSON is not the answer
      // Only the answer to id 1 is wanted; other lines are skipped.
      let message = try? JSONData(parsing: String(line))  // harmless: other lines are skipped
      if let message, message["id"] == 1 { return message }
    }
    if exitCode.value != 0 { throw ExitCode(exitCode.value) }
    throw ValidationError("the session ended without an answer; see the log on stderr")
  }
}
