/// Decides which framing a peer speaks from the first bytes it sends.
///
/// After optional leading whitespace (space, tab, CR, LF), a peer that starts with `Content-` (any case) speaks
/// `Content-Length` framing; anything else is newline-delimited JSON. A caseless namespace: detection keeps no
/// state, the caller buffers the prefix until a decision is made.
public enum FramingDetector {
  /// `content-` in lower case, the prefix that announces a header block.
  private static let marker: [UInt8] = Array("content-".utf8)

  /// The framing announced by `prefix`, the first bytes of the stream, or `nil` when they cannot tell yet (only
  /// whitespace, or a proper prefix of `content-`). With `atEnd` (no more bytes will come) an undecided prefix
  /// means newline framing.
  public static func detect(_ prefix: UnsafeRawBufferPointer, atEnd: Bool) -> Framing? {
    var index = 0
    while index < prefix.count, FrameBuffer.isWhitespace(prefix[index]) {
      index += 1
    }
    for expected in marker {
      guard index < prefix.count else { return atEnd ? .newline : nil }
      guard FrameBuffer.lowercased(prefix[index]) == expected else { return .newline }
      index += 1
    }
    return .contentLength
  }
}
