import Glibc
import Logging
import Testing

@testable import JSONRPC

/// Other descriptors in the server's poll loop (a database connection's notification socket): their handler runs on
/// the loop when they are readable, and no longer once unwatched.
@Suite("Watched descriptors")
struct WatchedDescriptorTests {
  /// Counts what the handler saw.
  final class Seen {
    var reads: [[UInt8]] = []
  }

  @Test("a watched descriptor's handler runs when it is readable; after unwatch it is left alone")
  func readableThenUnwatched() throws {
    let input = try TestPipe()
    let output = try TestPipe()
    let other = try TestPipe()
    let dispatcher = Dispatcher(output: OutputChannel(fd: output.writeFD), logger: Logger(label: "test"))
    let server = StdioServer(input: input.readFD, dispatcher: dispatcher, logger: Logger(label: "test"))
    let seen = Seen()
    let descriptor = other.readFD
    server.watch(descriptor: descriptor) { [unowned server, unowned seen] in
      var buffer = [UInt8](repeating: 0, count: 4)
      let count = read(descriptor, &buffer, buffer.count)
      seen.reads.append(Array(buffer[0..<max(0, count)]))
      // Unwatched from inside its own handler: the loop must not call it again, though "pong" is still readable.
      server.unwatch(descriptor: descriptor)
    }
    // The loop turns a few more times (a timer), then ends.
    let end = ContinuousClock.now + .milliseconds(200)
    server.nextTimerDeadline = { end }
    server.onTimer = { [unowned dispatcher] in dispatcher.requestExit(code: 0) }
    other.write(Array("pingpong".utf8))
    #expect(server.run() == 0)
    #expect(seen.reads == [Array("ping".utf8)])
  }
}
