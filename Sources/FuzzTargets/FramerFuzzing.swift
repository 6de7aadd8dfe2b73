import JSONRPC

/// The framer targets. The input's first byte chooses how the rest is cut into chunks (its low bits seed the chunk
/// sizes, 1 to 64 bytes), so the fuzzer explores byte-by-byte feeding as well as large reads. Checks: feeding in
/// chunks gives exactly the events of feeding everything at once (the framers promise it), every frame is within the
/// size limit, and the end of input is reported at most once.
enum FramerFuzzing {
  /// What a framer handed out, comparable across runs.
  enum Outcome: Equatable {
    case frame([UInt8])
    case error(FramingError.Kind)
  }

  /// A small limit, so that oversize paths are reached by small inputs.
  static let maxMessageBytes = 256

  static func newline(_ input: UnsafeRawBufferPointer) {
    guard let (seed, body) = split(input) else { return }
    compare(body, seed: seed, rescan: false) { NewlineFramer(maxMessageBytes: maxMessageBytes) }
  }

  static func contentLength(_ input: UnsafeRawBufferPointer) {
    guard let (seed, body) = split(input) else { return }
    // Detection sees the first bytes only; whatever it says, the Content-Length framer must survive the input.
    _ = FramingDetector.detect(body, atEnd: false)
    _ = FramingDetector.detect(body, atEnd: true)
    compare(body, seed: seed, rescan: false) { ContentLengthFramer(maxMessageBytes: maxMessageBytes) }
    // With the rescan a message that is not JSON triggers (the server's path): frames whose first byte is not `{`
    // or `[` are treated as invalid. Chunking may move where a rescan finds its marker, so only survival and the
    // size limit are checked here.
    _ = events(body, seed: seed, rescan: true) { ContentLengthFramer(maxMessageBytes: maxMessageBytes) }
  }

  private static func split(_ input: UnsafeRawBufferPointer) -> (UInt8, UnsafeRawBufferPointer)? {
    guard let seed = input.first else { return nil }
    return (seed, UnsafeRawBufferPointer(rebasing: input[1...]))
  }

  private static func compare<F: MessageFramer>(
    _ body: UnsafeRawBufferPointer, seed: UInt8, rescan: Bool, make: () -> F
  ) {
    let whole = events(body, seed: nil, rescan: rescan, make: make)
    let chunked = events(body, seed: seed, rescan: rescan, make: make)
    fuzzCheck(whole == chunked, "chunked feeding changed the events: \(whole) vs \(chunked)")
  }

  /// Feeds `body` (in chunks when `seed` is given), draining after each append, then finishes.
  static func events<F: MessageFramer>(
    _ body: UnsafeRawBufferPointer, seed: UInt8?, rescan: Bool, make: () -> F
  ) -> [Outcome] {
    var framer = make()
    var outcomes: [Outcome] = []
    func drain() {
      while let event = framer.nextEvent() { record(event) }
    }
    func record(_ event: FramerEvent) {
      switch event {
      case .frame(let frame):
        fuzzCheck(frame.count <= maxMessageBytes, "a frame of \(frame.count) bytes passed the limit")
        let bytes = framer.withFrameBytes(frame) { Array($0) }
        outcomes.append(.frame(bytes))
        if rescan, let first = bytes.first, first != UInt8(ascii: "{"), first != UInt8(ascii: "[") {
          framer.rescanLastFrame()
        }
      case .error(let error):
        outcomes.append(.error(error.kind))
      }
    }
    var state = UInt32(seed ?? 0) &* 2_654_435_761 | 1
    var offset = 0
    while offset < body.count {
      var size = body.count - offset
      if seed != nil {
        state = state &* 1_103_515_245 &+ 12_345
        size = min(size, Int((state >> 16) % 64) + 1)
      }
      framer.append(UnsafeRawBufferPointer(rebasing: body[offset..<offset + size]))
      offset += size
      drain()
    }
    var finishes = 0
    while let event = framer.finish() {
      finishes += 1
      fuzzCheck(finishes <= 8, "finish keeps reporting")
      record(event)
      drain()
    }
    return outcomes
  }
}
