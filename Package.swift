// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Swift target: strict Swift 6 concurrency and explicit imports.
let swiftSettings: [SwiftSetting] = [
  .enableUpcomingFeature("MemberImportVisibility"),
  .enableUpcomingFeature("InternalImportsByDefault"),
]

/// How the standard plugins (C libraries) are linked: without the Swift runtime. SwiftPM links every product through the
/// Swift driver, which adds the runtime's start files and `libswiftCore.so`; a host built with a static Swift standard
/// library would then map a second, shared copy of the runtime for each plugin's sake (megabytes of resident memory).
let pluginLinkerSettings: [LinkerSetting] = [
  .linkedLibrary("jansson"),
  .unsafeFlags(["-nostartfiles", "-static-stdlib"]),
]

let package = Package(
  name: "usagectx",
  products: [
    .executable(name: "usagectx", targets: ["usagectx"]),
    .library(name: "UsageCore", targets: ["UsageCore"]),
    // What the libFuzzer drivers in fuzz/ (a package of their own, built with the sanitizers) run.
    .library(name: "FuzzTargets", targets: ["FuzzTargets"]),
    .library(name: "usagectx-documents", type: .dynamic, targets: ["DocumentsPlugin"]),
    .library(name: "usagectx-storage", type: .dynamic, targets: ["StoragePlugin"]),
    .library(name: "usagectx-requests", type: .dynamic, targets: ["RequestsPlugin"]),
    .library(name: "usagectx-tokens", type: .dynamic, targets: ["TokensPlugin"]),
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
    // The metric plugin C interface (protocol/usagectx_plugin.h), for the host and for plugins written in Swift.
    .systemLibrary(name: "CUsagePlugin", path: "Sources/CUsagePlugin"),
    // The system SQLite library, for the durable ledger.
    .systemLibrary(
      name: "CSQLite", pkgConfig: "sqlite3",
      providers: [.apt(["libsqlite3-dev"]), .yum(["sqlite-devel"]), .brew(["sqlite"])]
    ),
    // The PostgreSQL client library for the shared authority, opened with dlopen when a connection is first made
    // (linked, its twenty dependencies would load in every session).
    .target(name: "CLibPQ", path: "Sources/CLibPQ", linkerSettings: [.linkedLibrary("dl")]),
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
    // The plugin host: finds plugins, loads libraries through the C ABI, reports what it found.
    .target(
      name: "PluginHost",
      dependencies: [
        "CUsagePlugin", "CLinux", "UsageCore", "JSON", "JSONRPC", "RefreshScheduler",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // The durable ledger: an SQLite database in the state directory (schema, migrations, group commits).
    .target(name: "Ledger", dependencies: ["CSQLite", "UsageCore"], swiftSettings: swiftSettings),
    // The PostgreSQL authority: an account's usage shared by every device, over the durable ledger as offline store.
    .target(
      name: "Postgres", dependencies: ["CLibPQ", "Ledger", "UsageCore", "JSON", "RefreshScheduler"],
      swiftSettings: swiftSettings),
    // When to refresh each metric: triggers, debounce, throttle, single flight, backoff. Knows no JSON-RPC.
    .target(name: "RefreshScheduler", swiftSettings: swiftSettings),
    // The usage service: JSON-RPC methods mapped onto the usage context.
    .target(
      name: "UsageServer",
      dependencies: [
        "UsageCore", "JSONRPC", "JSON", "PluginHost", "RefreshScheduler", "Ledger", "Postgres",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // The standard metric plugins: C libraries implementing protocol/usagectx_plugin.h, loaded at run time like any
    // other plugin. PluginSupport (helpers, the directory scan) is linked statically into each.
    .target(
      name: "PluginSupport", path: "plugins/support",
      cSettings: [.headerSearchPath("../../protocol")], linkerSettings: [.linkedLibrary("jansson")]),
    .target(
      name: "DocumentsPlugin", dependencies: ["PluginSupport"], path: "plugins/documents",
      cSettings: [.headerSearchPath("../../protocol")], linkerSettings: pluginLinkerSettings),
    .target(
      name: "StoragePlugin", dependencies: ["PluginSupport"], path: "plugins/storage",
      cSettings: [.headerSearchPath("../../protocol")], linkerSettings: pluginLinkerSettings),
    .target(
      name: "RequestsPlugin", dependencies: ["PluginSupport"], path: "plugins/requests",
      cSettings: [.headerSearchPath("../../protocol")], linkerSettings: pluginLinkerSettings),
    .target(
      name: "TokensPlugin", dependencies: ["PluginSupport"], path: "plugins/tokens",
      cSettings: [.headerSearchPath("../../protocol")], linkerSettings: pluginLinkerSettings),
    // Faces for people: the status line, report and export formats, the watch screen, LLM tool log import.
    .target(name: "Faces", dependencies: ["JSON", "UsageCore", "Ledger"], swiftSettings: swiftSettings),
    // The thin executable: flags, wiring, signals.
    .executableTarget(
      name: "usagectx",
      dependencies: [
        "UsageServer", "UsageCore", "JSONRPC", "JSON", "PluginHost", "Ledger", "Faces", "Postgres",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // The fuzz targets: framers, a whole session's dispatch, the configuration (fuzz/ drives them under libFuzzer; the
    // corpus replay test runs every seed through them).
    .target(
      name: "FuzzTargets",
      dependencies: [
        "JSON", "JSONRPC", "UsageServer", "UsageCore", "RefreshScheduler",
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings),
    // The benchmark's ledger filler (bench/run builds it; not a product): writes a large ledger through DurableLedger.
    .executableTarget(
      name: "bench-ledger-fill", dependencies: ["Ledger", "UsageCore"], path: "bench/fill",
      swiftSettings: swiftSettings),
    // What several test targets share: a seeded random source, a process holding a database lock.
    .target(name: "TestSupport", path: "Tests/TestSupport", swiftSettings: swiftSettings),
    .testTarget(name: "JSONTests", dependencies: ["JSON"], swiftSettings: swiftSettings),
    .testTarget(
      name: "JSONRPCTests", dependencies: ["JSONRPC", "JSON", "TestSupport"], swiftSettings: swiftSettings),
    .testTarget(
      name: "RefreshSchedulerTests", dependencies: ["RefreshScheduler", "TestSupport"], swiftSettings: swiftSettings),
    .testTarget(
      name: "UsageCoreTests",
      dependencies: ["UsageCore", "PluginHost", "TestSupport", .product(name: "Logging", package: "swift-log")],
      swiftSettings: swiftSettings
    ),
    .testTarget(name: "LedgerTests", dependencies: ["Ledger", "UsageCore", "TestSupport"], swiftSettings: swiftSettings),
    .testTarget(
      name: "UsageServerTests",
      dependencies: ["UsageServer", "UsageCore", "RefreshScheduler", "JSONRPC", "TestSupport"],
      swiftSettings: swiftSettings
    ),
    .testTarget(name: "FacesTests", dependencies: ["Faces", "JSON", "UsageCore", "Ledger"], swiftSettings: swiftSettings),
    .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzTargets"], swiftSettings: swiftSettings),
    .testTarget(
      name: "PostgresTests", dependencies: ["Postgres", "Ledger", "UsageCore", "JSON", "TestSupport"],
      swiftSettings: swiftSettings),
    .testTarget(
      name: "EndToEndTests",
      dependencies: ["JSON", "TestSupport"],
      swiftSettings: swiftSettings
    ),
  ]
)
