// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Swift target: strict Swift 6 concurrency and explicit imports.
let swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
  name: "usagectx",
  products: [
    .executable(name: "usagectx", targets: ["usagectx"]),
    .library(name: "UsageCore", targets: ["UsageCore"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
  ],
  targets: [
    // The only target that sees the C JSON library.
    .systemLibrary(
      name: "CJansson",
      pkgConfig: "jansson",
      providers: [.apt(["libjansson-dev"]), .yum(["jansson-devel"]), .brew(["jansson"])]
    ),
    // Linux system interfaces Glibc does not export (eventfd, signalfd).
    .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
    // JSON values over Jansson (parse, read) and a direct JSON writer.
    .target(name: "JSON", dependencies: ["CJansson"], swiftSettings: swiftSettings),
    // JSON-RPC 2.0: framing, messages, errors, dispatch, the stdio server. Knows nothing of usage.
    .target(
      name: "JSONRPC",
      dependencies: ["JSON", "CLinux", .product(name: "Logging", package: "swift-log")],
      swiftSettings: swiftSettings
    ),
    // The usage context: metrics, tiers, limits, levels, periods, versions. Knows no JSON-RPC.
    .target(name: "UsageCore", swiftSettings: swiftSettings),
    // The usage service: JSON-RPC methods mapped onto the usage context.
    .target(
      name: "UsageServer",
      dependencies: ["UsageCore", "JSONRPC", "JSON", .product(name: "Logging", package: "swift-log")],
      swiftSettings: swiftSettings
    ),
    // The standard metric plugins, each implementing the core's plugin interface.
    .target(name: "DocumentsPlugin", dependencies: ["UsageCore"], path: "plugins/documents", swiftSettings: swiftSettings),
    .target(name: "StoragePlugin", dependencies: ["UsageCore"], path: "plugins/storage", swiftSettings: swiftSettings),
    .target(name: "RequestsPlugin", dependencies: ["UsageCore"], path: "plugins/requests", swiftSettings: swiftSettings),
    .target(name: "TokensPlugin", dependencies: ["UsageCore"], path: "plugins/tokens", swiftSettings: swiftSettings),
    // The thin executable: flags, wiring, signals.
    .executableTarget(
      name: "usagectx",
      dependencies: [
        "UsageServer", "UsageCore", "JSONRPC",
        "DocumentsPlugin", "StoragePlugin", "RequestsPlugin", "TokensPlugin",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: swiftSettings),
    .testTarget(name: "JSONRPCTests", dependencies: ["JSONRPC", "JSON"], swiftSettings: swiftSettings),
    .testTarget(
      name: "UsageCoreTests",
      dependencies: ["UsageCore", "DocumentsPlugin", "StoragePlugin", "RequestsPlugin", "TokensPlugin"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["JSON"],
      swiftSettings: swiftSettings
    ),
  ]
)
