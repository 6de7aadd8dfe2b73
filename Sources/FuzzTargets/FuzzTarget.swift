import UsageServer

/// The fuzz targets: what the libFuzzer drivers in `fuzz/` run on each input, and what the corpus replay test runs on
/// every file of the seed corpus. Each must hold for any bytes: no trap, no hang, and the checks it makes of its own.
public enum FuzzTarget: String, CaseIterable, Sendable {
  /// Newline framing, the input fed in chunks the input itself chooses (see ``FramerFuzzing``).
  case newlineFramer = "newline-framer"
  /// Framing detection and Content-Length framing, with the rescan a bad message triggers.
  case contentLengthFramer = "content-length-framer"
  /// A whole session without a ledger on disk: framing, classification, dispatch and the usage methods.
  case dispatch
  /// The configuration file and `initialize.config`: parsing, merging, refresh settings and the context they build.
  case configuration
  /// A whole session of the MCP face (`usagectx mcp`): its tools and resources over the same session as `dispatch`.
  case mcp

  /// Runs the target on one input.
  public func run(_ input: UnsafeRawBufferPointer) {
    switch self {
    case .newlineFramer: FramerFuzzing.newline(input)
    case .contentLengthFramer: FramerFuzzing.contentLength(input)
    case .dispatch: SessionFuzzing.run(input)
    case .configuration: ConfigurationFuzzing.run(input)
    case .mcp: SessionFuzzing.run(input, face: .mcp)
    }
  }
}

/// What a target found wrong in the code under test (not in its input): the driver traps on it, so libFuzzer keeps the
/// input as a crash.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
  if !condition { fatalError("fuzz check failed: \(message())") }
}

extension Array where Element == UInt8 {
  /// Whether `needle` occurs in the bytes.
  func contains(subsequence needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, count >= needle.count else { return needle.isEmpty }
    return (0...(count - needle.count)).contains { start in self[start..<start + needle.count].elementsEqual(needle) }
  }
}
