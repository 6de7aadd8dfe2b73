import TestSupport
import Testing

@testable import JSONRPC

@Suite("NewlineFramer")
struct NewlineFramerTests {
  @Test func singleFrame() {
    var framer = NewlineFramer()
    #expect(framer.framing == .newline)
    #expect(framer.feed(#"{"id":1}"# + "\n") == [.frame(#"{"id":1}"#)])
    #expect(framer.nextEvent() == nil)
    #expect(!framer.hasPartialFrame)
    #expect(framer.finish() == nil)
  }

  @Test func manyFramesInOneChunk() {
    var framer = NewlineFramer()
    let lines = (0..<1000).map { #"{"jsonrpc":"2.0","id":\#($0),"method":"m"}"# }
    let outcomes = framer.feed(lines.joined(separator: "\n") + "\n")
    #expect(outcomes == lines.map { .frame($0) })
  }

  @Test func crlfAndLfLineEndings() {
    var framer = NewlineFramer()
    let outcomes = framer.feed("{\"a\":1}\r\n{\"b\":2}\n{\"c\":3}\r\n")
    #expect(outcomes == [.frame(#"{"a":1}"#), .frame(#"{"b":2}"#), .frame(#"{"c":3}"#)])
  }

  @Test func onlyOneTrailingCarriageReturnIsStripped() {
    var framer = NewlineFramer()
    #expect(framer.feed("{}\r\r\n") == [.frame("{}\r")])
  }

  @Test func blankLinesAreSkippedSilently() {
    var framer = NewlineFramer()
    let outcomes = framer.feed("\n\r\n   \n\t \r\n{\"a\":1}\n \t\n\n{\"b\":2}\r\n\r\n")
    #expect(outcomes == [.frame(#"{"a":1}"#), .frame(#"{"b":2}"#)])
    #expect(!framer.hasPartialFrame)
  }

  @Test func frameSplitBetweenCarriageReturnAndLineFeed() {
    var framer = NewlineFramer()
    #expect(framer.feed("{\"a\":1}\r").isEmpty)
    #expect(framer.hasPartialFrame)
    #expect(framer.feed("\n") == [.frame(#"{"a":1}"#)])
    #expect(!framer.hasPartialFrame)
  }

  @Test func partialLineIsNotRescannedFromItsStart() {
    var framer = NewlineFramer()
    for byte in #"{"method":"ping"}"#.utf8 {
      #expect(framer.feed([byte]).isEmpty)
    }
    #expect(framer.feed("\n") == [.frame(#"{"method":"ping"}"#)])
  }

  @Test func chunkingDoesNotChangeTheResult() {
    let stream = Array(Self.mixedStream.utf8)
    let whole = FramerHarness.run(NewlineFramer(maxMessageBytes: 64), chunks: [stream]).map(\.kindOnly)
    #expect(whole.contains(.error(.tooLarge)))
    #expect(whole.filter { if case .frame = $0 { true } else { false } }.count == 7)
    let byteByByte = FramerHarness.run(NewlineFramer(maxMessageBytes: 64), chunks: stream.map { [$0] })
    #expect(byteByByte.map(\.kindOnly) == whole)
    for seed in UInt64(0)..<300 {
      let chunks = FramerHarness.split(stream, seed: seed, maxChunk: 1 + Int(seed % 40))
      let outcomes = FramerHarness.run(NewlineFramer(maxMessageBytes: 64), chunks: chunks)
      #expect(outcomes.map(\.kindOnly) == whole, "seed \(seed)")
    }
  }

  @Test func oversizeLineIsRefusedBeforeItsNewlineArrives() {
    var framer = NewlineFramer(maxMessageBytes: 16)
    #expect(framer.feed(String(repeating: "x", count: 16)).isEmpty)
    guard case .error(let error)? = framer.feeding("yz") else {
      Issue.record("oversize line not refused")
      return
    }
    #expect(error.kind == .tooLarge && error.limit == 16 && error.byteCount == 18)
    #expect(framer.nextEvent() == nil)
    #expect(framer.bufferedByteCount == 0)
    #expect(framer.hasPartialFrame)
    let capacity = framer.bufferCapacity
    for _ in 0..<100 {
      #expect(framer.feed(String(repeating: "z", count: 10_000)).isEmpty)
    }
    #expect(framer.bufferedByteCount == 0)
    #expect(framer.bufferCapacity == capacity)
    #expect(framer.feed("tail\n{\"ok\":1}\n") == [.frame(#"{"ok":1}"#)])
    #expect(!framer.hasPartialFrame)
  }

  @Test func oversizeCompleteLineThenValidFrame() {
    var framer = NewlineFramer(maxMessageBytes: 16)
    let long = String(repeating: "a", count: 40)
    #expect(framer.feed(long + "\n{\"ok\":1}\n") == [.error(.tooLarge, byteCount: 40), .frame(#"{"ok":1}"#)])
  }

  @Test func lineOfExactlyTheLimitIsAccepted() {
    let line = String(repeating: "b", count: 16)
    for ending in ["\n", "\r\n"] {
      var whole = NewlineFramer(maxMessageBytes: 16)
      #expect(whole.feed(line + ending) == [.frame(line)])
      var bytewise = NewlineFramer(maxMessageBytes: 16)
      let outcomes = Array((line + ending).utf8).flatMap { bytewise.feed([$0]) }
      #expect(outcomes == [.frame(line)])
    }
  }

  @Test func finishDeliversALastLineWithoutNewline() {
    var framer = NewlineFramer()
    #expect(framer.feed("{\"a\":1}\n{\"b\":2}").count == 1)
    #expect(framer.hasPartialFrame)
    #expect(framer.finishAll() == [.frame(#"{"b":2}"#)])
    #expect(!framer.hasPartialFrame)
  }

  @Test func finishStripsATrailingCarriageReturn() {
    var framer = NewlineFramer()
    #expect(framer.feed("{\"a\":1}\r").isEmpty)
    #expect(framer.finishAll() == [.frame(#"{"a":1}"#)])
  }

  @Test func finishIgnoresBlankLeftovers() {
    var framer = NewlineFramer()
    #expect(framer.feed("{}\n \t\r").count == 1)
    #expect(framer.finishAll().isEmpty)
  }

  @Test func finishWhileDiscardingAnOversizeLineReportsNothingMore() {
    var framer = NewlineFramer(maxMessageBytes: 4)
    #expect(framer.feed("0123456789").map(\.kindOnly) == [.error(.tooLarge)])
    #expect(framer.feed("more").isEmpty)
    #expect(framer.finishAll().isEmpty)
  }

  @Test func abandonDropsThePartialLine() {
    var framer = NewlineFramer()
    #expect(framer.abandonPartialFrame() == nil)
    #expect(framer.feed("{\"a\":").isEmpty)
    #expect(framer.hasPartialFrame)
    #expect(framer.abandonPartialFrame().map(FramerHarness.outcome)?.kindOnly == .error(.stalled))
    #expect(!framer.hasPartialFrame)
    #expect(framer.abandonPartialFrame() == nil)
    #expect(framer.feed("{\"b\":2}\n") == [.frame(#"{"b":2}"#)])
  }

  @Test func abandonWithOnlyBlankBytesReportsNothing() {
    var framer = NewlineFramer()
    #expect(framer.feed(" \r").isEmpty)
    #expect(!framer.hasPartialFrame)
    #expect(framer.abandonPartialFrame() == nil)
  }

  @Test func rescanLastFrameChangesNothing() {
    var framer = NewlineFramer()
    guard case .frame(let frame)? = framer.feeding("{bad\n{\"ok\":1}\n") else {
      Issue.record("no frame")
      return
    }
    #expect(framer.withFrameBytes(frame) { Array($0) } == Array("{bad".utf8))
    framer.rescanLastFrame()
    #expect(framer.drain() == [.frame(#"{"ok":1}"#)])
  }

  @Test func bufferIsCompactedInsteadOfGrowing() {
    var framer = NewlineFramer()
    let line = Array((#"{"jsonrpc":"2.0","id":1,"method":"usage/increment"}"# + "\n").utf8)
    let stream = Array((0..<20_000).map { _ in line }.joined())
    #expect(framer.countFrames(feeding: stream, chunk: 1000) == 20_000)
    #expect(framer.bufferCapacity <= 2 * FrameBuffer.minimumCapacity)
  }

  @Test func arbitraryBytesNeverTrap() {
    for seed in UInt64(0)..<50 {
      var generator = SeededGenerator(seed: seed)
      let alphabet = Array("{}\r\n \t:ab".utf8) + [0, 0xFF]
      let stream = (0..<4000).map { _ in alphabet.randomElement(using: &generator) ?? 0 }
      var framer = NewlineFramer(maxMessageBytes: 32)
      for chunk in FramerHarness.split(stream, seed: seed, maxChunk: 200) {
        chunk.withUnsafeBytes { framer.append($0) }
        while let event = framer.nextEvent() {
          guard case .frame(let frame) = event else { continue }
          let bytes = framer.withFrameBytes(frame) { Array($0) }
          #expect(!bytes.isEmpty && bytes.count <= 32 && !bytes.contains(FrameBuffer.lineFeed))
        }
        if seed % 5 == 0 {
          _ = framer.abandonPartialFrame()
        }
      }
      _ = framer.finishAll()
      #expect(framer.bufferCapacity <= FrameBuffer.minimumCapacity)
    }
  }

  /// Frames, blank lines, CRLF, an oversize line and a last line without newline.
  static let mixedStream =
    "{\"id\":1}\n\r\n{\"id\":2}\r\n  \n" + String(repeating: "L", count: 200) + "\n{\"id\":3}\n"
    + String(repeating: "M", count: 65) + "\r\n{\"id\":4}\n" + String(repeating: "N", count: 64) + "\r\n\n"
    + "{\"id\":5}\r\n\t\r\n{\"id\":6}"
}
