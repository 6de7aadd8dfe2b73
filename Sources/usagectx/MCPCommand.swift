import ArgumentParser
import Glibc
import UsageServer

/// `usagectx mcp`: serves the usage context as a Model Context Protocol server on stdin/stdout (newline-delimited
/// JSON-RPC): the same session as `serve`, with tools and resources for agents.
struct MCPCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "mcp",
    abstract: "Serve the usage context as an MCP server (tools and resources) on stdin/stdout.",
    discussion: """
      Protocol revision 2025-06-18. Tools: usage_check, usage_record, usage_report, usage_status. Resources: \
      usage://metrics and usage://metrics/{name}, with subscriptions. The same state directory, plugins and flags \
      as serve. Reference: protocol/mcp.md. MCP client configuration: {"command": "usagectx", "args": ["mcp"]}
      """)

  @OptionGroup var options: ServeOptions

  func run() throws {
    var sidecarOptions = try options.sidecarOptions()
    sidecarOptions.face = .mcp
    // stdout belongs to the protocol (see Serve).
    let protocolOutput = dup(STDOUT_FILENO)
    dup2(STDERR_FILENO, STDOUT_FILENO)
    let code = Sidecar.run(
      input: STDIN_FILENO, output: protocolOutput, options: sidecarOptions, logger: options.makeLogger())
    throw ExitCode(code)
  }
}
