import JSON
import JSONRPC
import UsageCore

/// The JSON-RPC 2.0 messages usagectx exchanges with an exec plugin: requests it writes, answers it reads. See
/// `protocol/exec-plugins.md`.
enum ExecMessage {
  /// The highest protocol version usagectx speaks (offered in `plugin/describe` unless the manifest offers less).
  static let protocolVersion: Int64 = ExecManifest.latestProtocolVersion
  /// Most changes in one version-2 `metric/report`.
  static let maxChangesPerReport = 256

  /// An answer read from the child.
  struct Answer {
    var id: Int64
    var outcome: Outcome
  }

  enum Outcome {
    case result(JSONData)
    case error(RPCError)
  }

  /// `plugin/describe {protocolVersion, options}`, offering `version`.
  static func describe(id: Int64, options: ConfigValue, version: Int64) -> [UInt8] {
    request(id: id, method: "plugin/describe") { writer in
      writer.key("protocolVersion")
      writer.int(version)
      writer.key("options")
      var text = options.jsonText
      text.withUTF8 { writer.rawValue(UnsafeRawBufferPointer($0)) }
    }
  }

  /// `metric/fetch {metric}`.
  static func fetch(id: Int64, metric: String) -> [UInt8] {
    request(id: id, method: "metric/fetch") { writer in
      writer.key("metric")
      writer.string(text: metric)
    }
  }

  /// `metric/report {metric, seq, delta, key}`; `key` (the client's idempotency key) is `null` when the change has
  /// none.
  static func report(id: Int64, metric: String, seq: UInt64, delta: Int64, key: String?) -> [UInt8] {
    request(id: id, method: "metric/report") { writer in
      writer.key("metric")
      writer.string(text: metric)
      writer.key("seq")
      writer.int(Int64(clamping: seq))
      writer.key("delta")
      writer.int(delta)
      writer.key("key")
      if let key { writer.string(text: key) } else { writer.null() }
    }
  }

  /// Version 2: `metric/report {changes: [{metric, seq, delta, key, labels, fields?, cost?}]}`, the changes in order.
  static func reportBatch(id: Int64, changes: ArraySlice<ExecState.Report>) -> [UInt8] {
    request(id: id, method: "metric/report") { writer in
      writer.key("changes")
      writer.beginArray()
      for report in changes { change(report, into: &writer) }
      writer.endArray()
    }
  }

  /// One change of a version-2 report.
  private static func change(_ report: ExecState.Report, into writer: inout JSONWriter) {
    let change = report.change
    writer.beginObject()
    writer.key("metric")
    writer.string(text: report.metric)
    writer.key("seq")
    writer.int(Int64(clamping: change.seq))
    writer.key("delta")
    writer.int(change.delta)
    writer.key("key")
    if let key = change.key { writer.string(text: key) } else { writer.null() }
    writer.key("labels")
    writer.beginObject()
    for (name, value) in change.labels.sorted(by: { $0.key < $1.key }) {
      writer.key(text: name)
      writer.string(text: value)
    }
    writer.endObject()
    if let detail = change.detail {
      if !change.fieldNames.isEmpty {
        writer.key("fields")
        writer.beginObject()
        for (name, value) in zip(change.fieldNames, detail.fields) {
          writer.key(text: name)
          writer.int(value)
        }
        writer.endObject()
      }
      writer.key("cost")
      writer.double(detail.cost)
    }
    writer.endObject()
  }

  /// One request line, newline included.
  private static func request(id: Int64, method: StaticString, params: (inout JSONWriter) -> Void) -> [UInt8] {
    var writer = JSONWriter(capacity: 256)
    writer.beginObject()
    writer.key("jsonrpc")
    writer.string("2.0")
    writer.key("id")
    writer.int(id)
    writer.key("method")
    writer.string(method)
    writer.key("params")
    writer.beginObject()
    params(&writer)
    writer.endObject()
    writer.endObject()
    writer.rawByte(0x0A)
    return writer.bytes
  }

  /// Reads one line from the child as a response, or says what is wrong with it.
  static func parseAnswer(_ line: [UInt8]) -> Result<Answer, ProtocolViolation> {
    func fail(_ problem: String) -> Result<Answer, ProtocolViolation> { .failure(ProtocolViolation(problem)) }
    let message: JSONData
    do {
      let document = try line.withUnsafeBytes { bytes throws(JSONParseError) in
        try JSONDocument.parse(bytes, maxDepth: 64)
      }
      message = document.withRoot { JSONData($0) }
    } catch {
      return fail("wrote a line that is not JSON (\(error)): \(excerpt(line))")
    }
    guard message.objectMembers != nil else { return fail("wrote \(excerpt(line)), which is not a JSON-RPC response") }
    if message["method"] != nil {
      return fail("sent a request or notification (\(excerpt(line))); plugins may only answer")
    }
    guard message["jsonrpc"] == .string("2.0") else {
      return fail("wrote a response without \"jsonrpc\": \"2.0\": \(excerpt(line))")
    }
    guard let idValue = message["id"], case .int(let id) = idValue else {
      return fail("wrote a response whose id is not one usagectx sent: \(excerpt(line))")
    }
    switch (message["result"], message["error"]) {
    case (let result?, nil):
      return .success(Answer(id: id, outcome: .result(result)))
    case (nil, let error?):
      guard let code = error["code"]?.int, let text = error["message"]?.string else {
        return fail("wrote an error without an integer code and a string message: \(excerpt(line))")
      }
      return .success(
        Answer(
          id: id, outcome: .error(RPCError(RPCErrorCode(rawValue: Int(clamping: code)), text, data: error["data"]))))
    default:
      return fail("wrote a response without exactly one of result and error: \(excerpt(line))")
    }
  }

  /// The start of a line, for error messages.
  static func excerpt(_ line: [UInt8]) -> String {
    let limit = 120
    let text = String(decoding: line.prefix(limit), as: UTF8.self)
    return line.count > limit ? "\(text)…" : text
  }
}

/// Something an exec plugin wrote that breaks the protocol; the plugin is restarted.
struct ProtocolViolation: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

extension RPCError {
  /// `data.retryAfterMs`, when the plugin asks not to be asked again before some time.
  var retryAfterMilliseconds: Int64? {
    guard let value = data?["retryAfterMs"]?.int, value >= 0 else { return nil }
    return value
  }

  /// Whether a change refused with this error may be taken later: `data.retry` when the plugin says so; otherwise
  /// every error but those saying the request itself was wrong (-32600 to -32602), since losing usage is worse than
  /// sending it again (the key makes the repeat safe).
  var isTransient: Bool {
    if let retry = data?["retry"]?.bool { return retry }
    return !(-32602 ... -32600).contains(code.rawValue)
  }

  /// What becomes of a change refused with this error.
  func reportOutcome(_ reason: String) -> ReportOutcome {
    isTransient ? .retry(reason, afterMilliseconds: retryAfterMilliseconds) : .refused(reason)
  }
}
