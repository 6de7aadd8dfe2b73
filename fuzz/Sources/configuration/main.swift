import CFuzzerDriver
import FuzzTargets
import Glibc

/// One input through the `configuration` target: libFuzzer's callback.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
  FuzzTarget.configuration.run(UnsafeRawBufferPointer(start: data, count: count))
  return 0
}

// SwiftPM names an executable's entry point itself; it hands over to libFuzzer's driver.
var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, count in fuzzOneInput(data, count) })
