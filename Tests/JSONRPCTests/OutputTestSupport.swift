import Glibc
import Testing

@testable import JSONRPC

/// Reads and writes the server's output as it goes on the wire, in either framing.
enum Wire {
  /// `bodies` framed the way the output frames them.
  static func framed(_ bodies: [String], framing: Framing) -> [UInt8] {
    var bytes: [UInt8] = []
    for body in bodies {
      switch framing {
      case .newline: bytes += Array(body.utf8) + [UInt8(ascii: "\n")]
      case .contentLength: bytes += Array("Content-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
      }
    }
    return bytes
  }

  /// The bodies of the messages in `bytes`, checking each frame (a newline, or an exact `Content-Length`).
  static func bodies(_ bytes: [UInt8], framing: Framing) -> [String] {
    switch framing {
    case .newline:
      #expect(bytes.isEmpty || bytes.last == UInt8(ascii: "\n"))
      return bytes.split(separator: UInt8(ascii: "\n")).map { String(decoding: $0, as: UTF8.self) }
    case .contentLength:
      return contentLengthBodies(bytes)
    }
  }

  private static func contentLengthBodies(_ bytes: [UInt8]) -> [String] {
    var bodies: [String] = []
    var rest = bytes[...]
    let prefix = Array("Content-Length: ".utf8)
    while !rest.isEmpty {
      guard rest.starts(with: prefix) else {
        Issue.record("no header at \(String(decoding: rest, as: UTF8.self))")
        return bodies
      }
      rest = rest.dropFirst(prefix.count)
      let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
      rest = rest.dropFirst(digits.count)
      guard let length = Int(String(decoding: digits, as: UTF8.self)), rest.starts(with: [13, 10, 13, 10]),
        rest.count >= 4 + length
      else {
        Issue.record("bad header before \(String(decoding: rest, as: UTF8.self))")
        return bodies
      }
      rest = rest.dropFirst(4)
      bodies.append(String(decoding: rest.prefix(length), as: UTF8.self))
      rest = rest.dropFirst(length)
    }
    return bodies
  }
}

/// A pipe whose read end never blocks, standing for the client's side of the server's input or output.
final class TestPipe {
  let readFD: Int32
  private(set) var writeFD: Int32

  init() throws {
    var fds: [Int32] = [0, 0]
    try #require(pipe(&fds) == 0)
    readFD = fds[0]
    writeFD = fds[1]
    #expect(fcntl(readFD, F_SETFL, O_NONBLOCK) == 0)
  }

  deinit {
    close(readFD)
    closeWriting()
  }

  /// Writes all of `bytes` (small enough for the pipe's buffer).
  func write(_ bytes: [UInt8]) {
    let written = bytes.withUnsafeBytes { Glibc.write(writeFD, $0.baseAddress, $0.count) }
    #expect(written == bytes.count)
  }

  /// Closes the write end: the reader sees the end of input.
  func closeWriting() {
    if writeFD >= 0 { close(writeFD) }
    writeFD = -1
  }

  /// Everything written so far and not read yet.
  func readAvailable() -> [UInt8] {
    var received: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = read(readFD, &buffer, buffer.count)
      guard count > 0 else { return received }
      received += buffer[0..<count]
    }
  }
}
