import ArgumentParser
import Dispatch
import Glibc
import UsageServer

/// Runs a short built-in session and prints each request with what usagectx answered: the quickest way to see
/// usage move.
struct Demo: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Play a built-in transcript through a real session and print requests and answers.")

  @OptionGroup var options: ServeOptions

  /// The transcript: a client subscribing, counting documents and tokens, hitting a limit, upgrading.
  static let transcript: [String] = [
    #"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"clientInfo":{"name":"demo"},"config":{"metrics":{"documents":{"limits":{"free":5}}}}}}"#,
    #"{"jsonrpc":"2.0","id":2,"method":"usage/subscribe","params":{"metrics":["documents"]}}"#,
    #"{"jsonrpc":"2.0","id":3,"method":"usage/increment","params":{"metric":"documents","amount":3}}"#,
    #"{"jsonrpc":"2.0","id":4,"method":"usage/increment","params":{"metric":"documents"}}"#,
    #"{"jsonrpc":"2.0","id":5,"method":"usage/check","params":{"metric":"documents","amount":2}}"#,
    #"{"jsonrpc":"2.0","id":6,"method":"usage/increment","params":{"metric":"documents","amount":2,"enforce":true}}"#,
    #"{"jsonrpc":"2.0","id":7,"method":"usage/increment","params":{"metric":"tokens","input":1200,"output":350,"labels":{"model":"gpt-4o","provider":"openai"}}}"#,
    #"{"jsonrpc":"2.0","id":8,"method":"usage/setTier","params":{"tier":"pro"}}"#,
    #"{"jsonrpc":"2.0","id":9,"method":"usage/increment","params":{"metric":"documents","amount":-1}}"#,
    #"{"jsonrpc":"2.0","id":10,"method":"usage/get","params":{"metrics":["documents","tokens"]}}"#,
    #"{"jsonrpc":"2.0","id":11,"method":"shutdown"}"#,
    #"{"jsonrpc":"2.0","method":"exit"}"#,
  ]

  func run() throws {
    var toServer: [Int32] = [0, 0]
    var fromServer: [Int32] = [0, 0]
    guard pipe(&toServer) == 0, pipe(&fromServer) == 0 else { throw ExitCode.failure }
    var demoOptions = try options.sidecarOptions()
    // The demo is a show: it leaves the person's ledger alone unless a --state is named.
    if options.state == nil { demoOptions.stateDirectory = nil }
    let sidecarOptions = demoOptions
    let logger = options.makeLogger()
    let serverInput = toServer[0]
    let serverOutput = fromServer[1]
    let finished = DispatchSemaphore(value: 0)
    let exitCode = ExitCodeBox()
    DispatchQueue.global().async {
      exitCode.value = Sidecar.run(input: serverInput, output: serverOutput, options: sidecarOptions, logger: logger)
      close(serverOutput)
      finished.signal()
    }
    let reader = LineReader(fd: fromServer[0])
    for line in Self.transcript {
      print("--> \(line)")
      _ = line.utf8CString.withUnsafeBufferPointer { write(toServer[1], $0.baseAddress, $0.count - 1) }
      _ = write(toServer[1], "\n", 1)
      // Print what comes back: the answer, then any notifications, until the session goes quiet.
      for answer in reader.lines(quietAfterMilliseconds: 150) { print("<-- \(answer)") }
      print("")
    }
    close(toServer[1])
    finished.wait()
    close(fromServer[0])
    print("session ended with exit code \(exitCode.value)")
  }
}

/// Carries the session's exit code from its thread.
final class ExitCodeBox: @unchecked Sendable {
  var value: Int32 = 0
}

/// Reads newline-delimited output until nothing more arrives for a while.
private final class LineReader {
  private let fd: Int32
  private var pending: [UInt8] = []

  init(fd: Int32) { self.fd = fd }

  func lines(quietAfterMilliseconds quiet: Int32) -> [String] {
    var result: [String] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      guard poll(&descriptor, 1, quiet) > 0 else { break }
      let count = read(fd, &buffer, buffer.count)
      guard count > 0 else { break }
      pending.append(contentsOf: buffer[0..<count])
      while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
        result.append(String(decoding: pending[..<newline], as: UTF8.self))
        pending.removeSubrange(...newline)
      }
    }
    return result
  }
}
