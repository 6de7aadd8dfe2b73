import Glibc

/// A system call that failed, with the `errno` it reported.
public struct SystemCallError: Error, CustomStringConvertible, Equatable, Sendable {
  /// What was called, and on what ("posix_spawn /usr/bin/cc", "read").
  public var call: String
  /// The error number.
  public var code: Int32

  public init(_ call: String, code: Int32) {
    self.call = call
    self.code = code
  }

  public var description: String { "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}
