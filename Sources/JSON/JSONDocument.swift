internal import CJansson

/// A parsed JSON text that owns its Jansson tree and releases it when the document goes away.
///
/// Parsing enforces the limits a server needs against hostile input: strict UTF-8 (no replacement characters),
/// a maximum nesting depth, and any JSON value at the top level.
public final class JSONDocument {
  private let rootPointer: UnsafeMutablePointer<json_t>

  /// Calls `body` with the top-level value, keeping the document alive until `body` returns. Views must not
  /// escape `body`: they borrow the document's memory.
  public func withRoot<R, E: Error>(_ body: (JSONValue) throws(E) -> R) throws(E) -> R {
    try withExtendedLifetime(self) { () throws(E) -> R in try body(JSONValue(rootPointer)) }
  }

  private init(root: UnsafeMutablePointer<json_t>) { self.rootPointer = root }

  deinit { json_decref(rootPointer) }

  /// Parses `bytes` as one JSON text.
  ///
  /// - Parameter maxDepth: the deepest nesting of arrays and objects accepted (the top-level value is depth 1);
  ///   `nil` leaves the check to the caller (``exceedsDepth(_:source:)``), who may want the document anyway.
  /// - Throws: ``JSONParseError`` naming the problem and its byte offset.
  public static func parse(_ bytes: UnsafeRawBufferPointer, maxDepth: Int? = 100) throws(JSONParseError) -> JSONDocument
  {
    guard let base = bytes.baseAddress, !bytes.isEmpty else {
      throw JSONParseError(.syntax, "empty message", position: 0)
    }
    var error = json_error_t()
    // `\u0000` is valid JSON: strings are read by length everywhere, so an embedded NUL is safe to accept.
    let flags = Int(JSON_DECODE_ANY) | Int(JSON_ALLOW_NUL)
    guard let root = json_loadb(base.assumingMemoryBound(to: CChar.self), bytes.count, flags, &error) else {
      throw JSONParseError(jansson: error)
    }
    let document = JSONDocument(root: root)
    if let maxDepth, document.exceedsDepth(maxDepth, source: bytes) {
      throw JSONParseError(.tooDeep, "nesting deeper than \(maxDepth) levels", position: nil, limit: maxDepth)
    }
    return document
  }

  /// `true` when arrays and objects nest deeper than `limit` (the top-level value is depth 1). `source` is the text
  /// the document was parsed from: depth can only pass the limit if the text holds more brackets than the limit, so
  /// they are counted first (cheap) and the tree is walked only when that is possible.
  public func exceedsDepth(_ limit: Int, source: UnsafeRawBufferPointer) -> Bool {
    limit < source.count && JSONDocument.bracketCount(source) > limit
      && JSONDocument.depth(of: rootPointer, stoppingAfter: limit) > limit
  }

  /// Parses a Swift string (convenience for tests and configuration).
  public static func parse(_ text: String, maxDepth: Int? = 100) throws(JSONParseError) -> JSONDocument {
    var text = text
    do {
      return try text.withUTF8 { buffer in try parse(UnsafeRawBufferPointer(buffer), maxDepth: maxDepth) }
    } catch let error as JSONParseError {
      throw error
    } catch {
      throw JSONParseError(.syntax, "\(error)", position: nil)
    }
  }

  private static func bracketCount(_ bytes: UnsafeRawBufferPointer) -> Int {
    var count = 0
    for byte in bytes where byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") { count &+= 1 }
    return count
  }

  /// Depth of `value`, exploring no deeper than `limit + 1` levels.
  private static func depth(of value: UnsafeMutablePointer<json_t>, stoppingAfter limit: Int) -> Int {
    guard limit >= 0 else { return 1 }
    switch value.pointee.type {
    case JSON_ARRAY:
      var deepest = 0
      for index in 0..<json_array_size(value) {
        if let element = json_array_get(value, index) {
          deepest = max(deepest, depth(of: element, stoppingAfter: limit - 1))
          if deepest > limit { break }
        }
      }
      return deepest + 1
    case JSON_OBJECT:
      var deepest = 0
      var iterator = json_object_iter(value)
      while let current = iterator, deepest <= limit {
        if let member = json_object_iter_value(current) {
          deepest = max(deepest, depth(of: member, stoppingAfter: limit - 1))
        }
        iterator = json_object_iter_next(value, current)
      }
      return deepest + 1
    default:
      return 0
    }
  }
}
