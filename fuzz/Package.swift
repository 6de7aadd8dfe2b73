// swift-tools-version:6.1
// The libFuzzer drivers of usagectx's fuzz targets (Sources/FuzzTargets in the main package). A package of its own so
// that only the drivers and what they use are built with `-sanitize=fuzzer,address`; `scripts/fuzz` builds and runs
// them.
import PackageDescription

let targets = ["newline-framer", "content-length-framer", "dispatch", "configuration", "mcp"]

let package = Package(
  name: "usagectx-fuzz",
  dependencies: [.package(name: "usagectx", path: "..")],
  targets: [
    .target(name: "CFuzzerDriver"),
    .target(name: "FuzzDriver", dependencies: ["CFuzzerDriver", .product(name: "FuzzTargets", package: "usagectx")]),
  ]
    + targets.map { name in
      .executableTarget(name: "fuzz-\(name)", dependencies: ["FuzzDriver"], path: "Sources/\(name)")
    }
)
