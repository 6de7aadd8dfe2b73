// swift-tools-version:6.1
import PackageDescription

/// The benchmark's peer for `usagectx mcp` (bench/mcp.py builds it; not part of usagectx's package): a minimal MCP
/// server on the MCP Swift SDK 0.12.1 offering an equivalent `usage_check` tool over stdio.
let package = Package(
  name: "mcp-peer",
  platforms: [.macOS("13.0")],
  dependencies: [
    .package(url: "https://github.com/modelcontextprotocol/swift-sdk", exact: "0.12.1")
  ],
  targets: [
    .executableTarget(name: "mcp-peer", dependencies: [.product(name: "MCP", package: "swift-sdk")])
  ]
)
