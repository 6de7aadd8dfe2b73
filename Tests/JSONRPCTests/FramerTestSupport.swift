import TestSupport
import Testing
@testable import JSONRPC

/// A framer event with the frame's bytes copied out, so it outlives the framer's buffer.
enum Outcome: Equatable, CustomStringConvertible {
  /// A frame, its bytes decoded as UTF-8.
  case frame(String)
  /// An error's kind and byte count.
  case error(FramingError.Kind, byteCount: Int? = nil)

  /// The outcome without the byte count, for comparisons where only the kind is stable.
  var kindOnly: Outcome {
    if case .error(let kind, _) = self {
      return .error(kind)
    }
    return self
  }

  var description: String {
    switch self {
    case .frame(let text): "frame(\(text.debugDescription))"
    case .error(let kind, let count): "error(\(kind)\(count.map { ", \($0)" } ?? ""))"
    }
  }
}

/// Drives framers the way the server does and records what they produce.
enum FramerHarness {
  /// `event` with its frame bytes copied out of `framer`.
  static func outcome(_ event: FramerEvent, of framer: some MessageFramer) -> Outcome {
    switch event {
    case .frame(let frame): .frame(framer.withFrameBytes(frame) { String(decoding: $0, as: UTF8.self) })
    case .error(let error): .error(error.kind, byteCount: error.byteCount)
    }
  }

  /// `event` when it is an error (frames need their framer to be read).
  static func outcome(_ event: FramerEvent) -> Outcome {
    switch event {
    case .frame(let frame): .frame("<\(frame.range)>")
    case .error(let error): .error(error.kind, byteCount: error.byteCount)
    }
  }

  /// Feeds `chunks` one by one, draining events after each, then calls `finish` until it returns `nil`.
  static func run<F: MessageFramer>(_ framer: F, chunks: [[UInt8]]) -> [Outcome] {
    var framer = framer
    var outcomes: [Outcome] = []
    for chunk in chunks {
      outcomes += framer.feed(chunk)
    }
    outcomes += framer.finishAll()
    return outcomes
  }

  /// Feeds `chunks` and returns the raw errors, for checks on limits and byte counts.
  static func errors<F: MessageFramer>(_ framer: F, chunks: [[UInt8]]) -> [FramingError] {
    var framer = framer
    var errors: [FramingError] = []
    for chunk in chunks {
      chunk.withUnsafeBytes { framer.append($0) }
      while let event = framer.nextEvent() {
        if case .error(let error) = event {
          errors.append(error)
        }
      }
    }
    while let event = framer.finish() {
      if case .error(let error) = event {
        errors.append(error)
      }
    }
    return errors
  }

  /// `stream` cut into chunks of 1...`maxChunk` bytes chosen by a generator seeded with `seed`.
  static func split(_ stream: [UInt8], seed: UInt64, maxChunk: Int) -> [[UInt8]] {
    var generator = SeededGenerator(seed: seed)
    var chunks: [[UInt8]] = []
    var offset = 0
    while offset < stream.count {
      let end = min(stream.count, offset + Int.random(in: 1...max(1, maxChunk), using: &generator))
      chunks.append(Array(stream[offset..<end]))
      offset = end
    }
    return chunks
  }
}

extension MessageFramer {
  /// Appends `bytes` and returns every event available.
  mutating func feed(_ bytes: [UInt8]) -> [Outcome] {
    bytes.withUnsafeBytes { append($0) }
    return drain()
  }

  /// Appends the UTF-8 of `text` and returns every event available.
  mutating func feed(_ text: String) -> [Outcome] {
    feed(Array(text.utf8))
  }

  /// Appends the UTF-8 of `text` and returns only the first event, leaving the rest buffered.
  mutating func feeding(_ text: String) -> FramerEvent? {
    Array(text.utf8).withUnsafeBytes { append($0) }
    return nextEvent()
  }

  /// Every event available now.
  mutating func drain() -> [Outcome] {
    var outcomes: [Outcome] = []
    while let event = nextEvent() {
      outcomes.append(FramerHarness.outcome(event, of: self))
    }
    return outcomes
  }

  /// Calls `finish` until it returns `nil` (bounded, so a framer that never stops fails instead of hanging).
  mutating func finishAll() -> [Outcome] {
    var outcomes: [Outcome] = []
    for _ in 0..<100 {
      guard let event = finish() else { return outcomes }
      outcomes.append(FramerHarness.outcome(event, of: self))
    }
    Issue.record("finish() kept returning events")
    return outcomes
  }
}

extension MessageFramer {
  /// Feeds `stream` in chunks of `chunk` bytes and counts the frames delivered.
  mutating func countFrames(feeding stream: [UInt8], chunk: Int) -> Int {
    var frames = 0
    var offset = 0
    while offset < stream.count {
      let end = min(offset + chunk, stream.count)
      frames += feed(Array(stream[offset..<end])).count
      offset = end
    }
    return frames
  }
}
