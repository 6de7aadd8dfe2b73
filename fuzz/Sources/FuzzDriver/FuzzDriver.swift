import CFuzzerDriver
public import FuzzTargets
import Glibc

/// Runs libFuzzer's driver on one fuzz target; each driver executable's main is one call to ``run(_:)``.
public enum FuzzDriver {
  /// The target of this process (set once, before the driver starts).
  nonisolated(unsafe) static var target = FuzzTarget.dispatch

  /// Hands the process over to libFuzzer with `target` as the code under test.
  public static func run(_ target: FuzzTarget) -> Never {
    Self.target = target
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, count in fuzzOneInput(data, count) })
  }
}

/// One input through the process's target: libFuzzer's callback (also the symbol its own `main` would call).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  FuzzDriver.target.run(UnsafeRawBufferPointer(start: data, count: count))
  return 0
}
