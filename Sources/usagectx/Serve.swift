import ArgumentParser
import Glibc
import UsageServer

/// Serves the usage context on stdin/stdout until the client is done.
struct Serve: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve", abstract: "Serve JSON-RPC on stdin/stdout (the default).")

  @OptionGroup var options: ServeOptions

  func run() throws {
    // stdout belongs to the protocol: keep a private copy for it and point stdout at stderr, so a stray print
    // can never corrupt a frame.
    let sidecarOptions = try options.sidecarOptions()
    let protocolOutput = dup(STDOUT_FILENO)
    dup2(STDERR_FILENO, STDOUT_FILENO)
    let code = Sidecar.run(
      input: STDIN_FILENO, output: protocolOutput, options: sidecarOptions, logger: options.makeLogger())
    throw ExitCode(code)
  }
}
