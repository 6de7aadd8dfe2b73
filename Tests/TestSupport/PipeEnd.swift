import Glibc

/// The test's end of a pipe to or from a child process: a close-on-exec file descriptor that is closed when the
/// value goes away (or earlier, with ``close()``).
///
/// Reads and writes block (reads up to a timeout); interrupted calls are retried. One thread at a time: a pipe end may
/// be handed to another thread (a reader of a child's stderr), but not used from two at once.
public final class PipeEnd: @unchecked Sendable {
  /// What one ``read(timeout:maximum:)`` found.
  public enum Chunk: Equatable, Sendable {
    /// Bytes that were waiting (never empty).
    case bytes([UInt8])
    /// Every write end is closed and everything written has been read.
    case endOfFile
    /// Nothing arrived within the timeout.
    case timedOut
  }

  /// The descriptor; -1 once closed.
  public private(set) var fileDescriptor: Int32

  /// Takes ownership of `fileDescriptor`.
  init(fileDescriptor: Int32) {
    self.fileDescriptor = fileDescriptor
  }

  deinit { close() }

  /// Closes the descriptor (a write end: the child sees end of input). Closing again does nothing.
  public func close() {
    guard fileDescriptor >= 0 else { return }
    // Not retried on EINTR: on Linux the descriptor is released even then.
    _ = Glibc.close(fileDescriptor)
    fileDescriptor = -1
  }

  /// Writes all of `bytes`, however many calls that takes. Throws `EPIPE` when the child closed its end.
  public func write(_ bytes: [UInt8]) throws {
    let fd = try openDescriptor("write")
    var written = 0
    try bytes.withUnsafeBytes { buffer in
      while written < buffer.count {
        let count = Glibc.write(fd, buffer.baseAddress! + written, buffer.count - written)
        if count < 0 {
          if errno == EINTR { continue }
          throw SystemCallError("write", code: errno)
        }
        written += count
      }
    }
  }

  /// Waits up to `timeout` seconds (`.infinity`: as long as it takes) for something to read, then reads what is
  /// there, at most `maximum` bytes.
  public func read(timeout: Double, maximum: Int = 65_536) throws -> Chunk {
    let fd = try openDescriptor("read")
    let deadline = timeout.isFinite ? ContinuousClock.now + .seconds(max(0, timeout)) : nil
    var chunk = [UInt8](repeating: 0, count: maximum)
    while true {
      var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
      let ready = poll(&descriptor, 1, Self.milliseconds(until: deadline))
      if ready < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("poll", code: errno)
      }
      if ready == 0 {
        if let deadline, ContinuousClock.now >= deadline { return .timedOut }
        continue
      }
      let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, maximum) }
      if count > 0 { return .bytes(Array(chunk[0..<count])) }
      if count == 0 { return .endOfFile }
      if errno == EINTR || errno == EAGAIN { continue }
      throw SystemCallError("read", code: errno)
    }
  }

  /// Reads until every write end is closed; returns everything read.
  public func readToEnd() throws -> [UInt8] {
    var bytes: [UInt8] = []
    while true {
      switch try read(timeout: .infinity) {
      case .bytes(let chunk): bytes += chunk
      case .endOfFile: return bytes
      case .timedOut: continue
      }
    }
  }

  private func openDescriptor(_ call: String) throws -> Int32 {
    guard fileDescriptor >= 0 else { throw SystemCallError(call, code: EBADF) }
    return fileDescriptor
  }

  /// A timeout for `poll`: the milliseconds left until `deadline`, rounded up; -1 (no limit) without one.
  private static func milliseconds(until deadline: ContinuousClock.Instant?) -> Int32 {
    guard let deadline else { return -1 }
    let left = ContinuousClock.now.duration(to: deadline)
    guard left > .zero else { return 0 }
    let (seconds, attoseconds) = left.components
    let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
    return Int32(clamping: milliseconds)
  }
}
