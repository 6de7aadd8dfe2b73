import ArgumentParser

/// The `usagectx` command: serves the usage context over stdio by default.
@main
struct UsageCtxCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "usagectx",
    abstract: "Holds a person's usage context and serves it as JSON-RPC 2.0 over stdin/stdout.",
    discussion: """
      Speak newline-delimited JSON or LSP-style Content-Length frames on stdin; the framing is detected from the \
      first bytes and answers use the same one. Logs go to stderr. The method reference is \
      protocol/usagectx.openrpc.json.
      """,
    version: "0.1.0",
    subcommands: [
      Serve.self, Demo.self, PluginsCommand.self, ReportCommand.self, CallCommand.self, StatusCommand.self,
      ExportCommand.self, ImportCommand.self, WatchCommand.self, MCPCommand.self,
    ],
    defaultSubcommand: Serve.self
  )
}
