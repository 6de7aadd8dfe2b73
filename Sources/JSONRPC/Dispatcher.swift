public import JSON
public import Logging

/// Turns message bodies into answers: classifies each message once, routes it through the method table, and writes
/// answers (in the client's framing) to the output channel.
///
/// Every request gets exactly one answer, with `id: null` when its id cannot be read; notifications never get one;
/// answers to a batch go out as one array, or not at all when the batch held only notifications. Owned by the
/// server's loop thread.
public final class Dispatcher {
  /// Limits applied to each message after framing.
  public struct Limits: Sendable {
    /// The deepest nesting of arrays/objects accepted in one message.
    public var maxDepth: Int
    /// The most elements a batch may hold.
    public var maxBatch: Int
    public init(maxDepth: Int = 100, maxBatch: Int = 1000) {
      self.maxDepth = maxDepth
      self.maxBatch = maxBatch
    }
  }

  public let output: OutputChannel
  public var limits: Limits
  private let logger: Logger
  var requests = MethodTable<RequestHandler>()
  var deferred = MethodTable<(handler: DeferredHandler, reservesID: Bool)>()
  var notifications = MethodTable<NotificationHandler>()
  /// Deferred requests not answered yet, by id: a second request reusing one of these ids is refused.
  private var inFlight: [RPCID: PendingReply] = [:]
  /// Deferred methods sent as notifications inside a batch, not settled yet: the batch's array waits for them too.
  private var silentBatchMembers: [PendingReply] = []
  /// The batch being read, while its elements are dispatched.
  private var currentBatch: BatchAnswer?

  /// Called before a message is handled whose answer is written at once — anything but a single request or
  /// notification of a method registered with ``registerDeferred(_:_:)`` — so that the owner can first settle the
  /// deferred replies it is able to settle now: their answers then keep the order of the requests.
  public var beforeAnsweringAtOnce: (() -> Void)?

  /// `true` once `shutdown` was answered: later requests are refused.
  public private(set) var isShutDown = false
  /// Set when the session should end, with the process exit code (by `exit`, or by the owner).
  public private(set) var exitCode: Int32?

  public init(output: OutputChannel, limits: Limits = Limits(), logger: Logger) {
    self.output = output
    self.limits = limits
    self.logger = logger
    registerLifecycle()
  }

  /// Names of the request methods, in registration order.
  public private(set) var requestMethodNames: [String] = []
  /// Names of the notifications handled, in registration order.
  public var notificationMethodNames: [String] { notifications.names }

  /// Adds (or replaces) a request method. A request method sent as a notification runs without an answer.
  public func register(_ method: String, _ handler: @escaping RequestHandler) {
    requests.insert(method, handler)
    if !requestMethodNames.contains(method) { requestMethodNames.append(method) }
  }

  /// Adds (or replaces) a request method whose answer comes later (see ``PendingReply``).
  ///
  /// With `reservesID` (the default) the request's id stays reserved while it waits: another request reusing it is
  /// refused (`duplicateId`), `$/cancelRequest` can answer it, and the session does not end before it is answered
  /// (``rejectOutstanding(_:)`` answers it when the session must end). Without, the owner promises to answer it
  /// soon and in order — before any request answered at once (``beforeAnsweringAtOnce``) and when the session stops
  /// (``StdioServer/onStop``) — so its id may be reused by the requests that follow, as with answers given at once.
  public func registerDeferred(
    _ method: String, reservesID: Bool = true, _ handler: @escaping DeferredHandler
  ) {
    deferred.insert(method, (handler, reservesID))
    if !requestMethodNames.contains(method) { requestMethodNames.append(method) }
  }

  /// Answers a deferred request with a result; `result` writes one JSON value. Ignored once settled.
  public func resolve(_ reply: PendingReply, _ result: (inout JSONWriter) -> Void) {
    if reply.local != nil { return settleLocally(reply, result) }
    settle(reply) { writer in
      writeEnvelope(id: reply.id, into: &writer)
      writer.key("result")
      result(&writer)
      writer.endObject()
    }
  }

  /// Answers a deferred request with an error. Ignored once settled.
  public func reject(_ reply: PendingReply, _ error: RPCError) {
    if reply.local != nil { return settleLocally(reply, error) }
    settle(reply) { writer in writeErrorResponse(error, id: reply.id, into: &writer) }
  }

  /// Answers every deferred request still waiting with an internal error (the session is ending). Deferred methods
  /// sent as notifications inside a batch are settled too, so that every batch's array goes out.
  public func rejectOutstanding(_ reason: String) {
    for reply in Array(inFlight.values) + silentBatchMembers { reject(reply, .internalError(reason)) }
  }

  /// Requests answered later that are still waiting.
  public var outstandingCount: Int { inFlight.count + unreservedWaiting }

  /// Deferred requests waiting whose ids are not reserved (see ``registerDeferred(_:reservesID:_:)``).
  private var unreservedWaiting = 0

  private func settle(_ reply: PendingReply, _ write: (inout JSONWriter) -> Void) {
    guard !reply.isSettled else { return }
    reply.isSettled = true
    forget(reply)
    guard reply.id != nil else {
      if let batch = reply.batch { finishDeferredBatchMember(batch) }
      return
    }
    if let batch = reply.batch {
      var part = JSONWriter(capacity: 256)
      write(&part)
      if let slot = reply.slot { batch.parts[slot] = part.bytes } else { batch.parts.append(part.bytes) }
      finishDeferredBatchMember(batch)
    } else {
      output.send(write)
    }
  }

  private func finishDeferredBatchMember(_ batch: BatchAnswer) {
    batch.outstanding -= 1
    if batch.outstanding == 0 { emit(batch) }
  }

  /// Sends a batch's answers as one array, or nothing when none are due.
  private func emit(_ batch: BatchAnswer, now: Bool = false) {
    guard batch.parts.contains(where: { $0 != nil }) else { return }
    output.send(now: now) { writer in
      writer.beginArray()
      for case let part? in batch.parts { part.withUnsafeBytes { writer.rawValue($0) } }
      writer.endArray()
    }
  }

  /// Adds (or replaces) a notification handler.
  public func registerNotification(_ method: String, _ handler: @escaping NotificationHandler) {
    notifications.insert(method, handler)
  }

  /// Ends the session with `code` after the current burst has been written.
  public func requestExit(code: Int32) {
    if exitCode == nil { exitCode = code }
  }

  // MARK: - Messages

  /// Handles one framed message. Returns `false` when the bytes were not valid JSON (so the framer may look for a
  /// frame hidden inside them).
  @discardableResult
  public func handleMessage(_ bytes: UnsafeRawBufferPointer) -> Bool {
    let document: JSONDocument
    do {
      document = try JSONDocument.parse(bytes, maxDepth: nil)
    } catch {
      switch error.kind {
      case .syntax:
        logger.debug("unparseable message: \(error)")
        beforeAnsweringAtOnce?()
        sendError(.parseError("invalidJSON", detail: error.description), id: nil)
        return false
      case .tooDeep:
        beforeAnsweringAtOnce?()
        sendError(.invalidRequest("nestingTooDeep", limit: limits.maxDepth), id: nil)
        return true
      }
    }
    document.withRoot { root in
      if document.exceedsDepth(limits.maxDepth, source: bytes) {
        // The message was read whole, so its id can still be echoed.
        let id = root.isObject ? root["id"].flatMap(RPCID.init) : nil
        beforeAnsweringAtOnce?()
        return sendError(.invalidRequest("nestingTooDeep", limit: limits.maxDepth), id: id)
      }
      if let settle = beforeAnsweringAtOnce, !isDeferred(root) { settle() }
      if root.isArray {
        handleBatch(root)
      } else {
        let start = output.beginMessage()
        output.beginAnswering()
        if handleSingle(root) { output.endMessage(start) } else { output.cancelMessage(start) }
        output.endAnswering()
      }
    }
    return true
  }

  /// Whether `message` is a single request or notification of a method answered later.
  private func isDeferred(_ message: JSONValue) -> Bool {
    guard message.isObject, let method = message["method"] else { return false }
    return method.withStringBytes { deferred.lookup($0) != nil } ?? false
  }

  /// Answers a framing problem that marks where a message was (id null); garbage is only logged.
  public func handleFramingError(_ error: FramingError) {
    guard error.marksMessage else {
      logger.warning("skipped \(error.byteCount ?? 0) bytes between messages")
      return
    }
    logger.warning("framing: \(error)")
    beforeAnsweringAtOnce?()
    switch error.kind {
    case .tooLarge:
      var data: [(String, JSONData)] = [("reason", "messageTooLarge")]
      if let limit = error.limit { data.append(("limit", .int(Int64(limit)))) }
      if let size = error.byteCount { data.append(("size", .int(Int64(size)))) }
      sendError(RPCError(.invalidRequest, data: .object(data)), id: nil)
    case .invalidHeader:
      sendError(.parseError("invalidHeader", detail: error.detail), id: nil)
    case .truncated:
      sendError(.parseError("truncated", detail: error.detail), id: nil)
    case .stalled:
      sendError(.parseError("stalled", detail: error.detail), id: nil)
    case .garbage:
      break
    }
  }

  /// Writes a complete error response as its own message.
  public func sendError(_ error: RPCError, id: RPCID?) {
    let start = output.beginMessage()
    writeErrorResponse(error, id: id)
    output.endMessage(start)
  }

  private func handleBatch(_ batch: JSONValue) {
    let count = batch.count
    guard count > 0 else {
      return sendError(.invalidRequest("emptyBatch"), id: nil)
    }
    guard count <= limits.maxBatch else {
      return sendError(.invalidRequest("batchTooLarge", limit: limits.maxBatch), id: nil)
    }
    // Answers are gathered aside, so that a batch holding requests answered later can wait for them.
    let answer = BatchAnswer()
    answer.outstanding = 1  // the reading of the batch itself
    currentBatch = answer
    output.beginAnswering()
    for index in 0..<count {
      guard let element = batch[index] else { continue }
      // Like single messages, an element answered at once sees the changes of the elements before it.
      if let settle = beforeAnsweringAtOnce, !isDeferred(element) { settle() }
      let start = output.writer.count
      output.writer.truncate(to: start)
      if handleSingle(element) {
        answer.parts.append(output.writer.withBytes { Array($0[start...]) })
      }
      output.writer.truncate(to: start)
    }
    currentBatch = nil
    // Done reading: when nothing waits, the array is this batch's answer and goes out before what it raised.
    answer.outstanding -= 1
    if answer.outstanding == 0 { emit(answer, now: true) }
    output.endAnswering()
  }

  /// Handles one request/notification/response object. Returns `true` when it wrote an answer.
  private func handleSingle(_ message: JSONValue) -> Bool {
    guard message.isObject else {
      writeErrorResponse(.invalidRequest("notAnObject"), id: nil)
      return true
    }
    let idValue = message["id"]
    var id: RPCID? = nil
    if let idValue {
      guard let valid = RPCID(idValue) else {
        writeErrorResponse(.invalidRequest("invalidId", detail: "id must be a string, a number or null"), id: nil)
        return true
      }
      id = valid
    }
    guard let version = message["jsonrpc"], version.stringEquals("2.0") else {
      writeErrorResponse(.invalidRequest("invalidVersion", detail: "jsonrpc must be \"2.0\""), id: id ?? .null)
      return true
    }
    guard let method = message["method"] else {
      if message["result"] != nil || message["error"] != nil {
        logger.debug("ignored a response from the client (id \(id?.description ?? "none"))")
        return false
      }
      writeErrorResponse(.invalidRequest("missingMethod"), id: id ?? .null)
      return true
    }
    guard method.isString else {
      writeErrorResponse(.invalidRequest("invalidMethod", detail: "method must be a string"), id: id ?? .null)
      return true
    }
    // `"params": null` is taken as no params (Emacs's jsonrpc.el sends it for requests without any); other
    // non-structured values are refused.
    var params = message["params"]
    if params?.isNull == true { params = nil }
    if let params, !params.isObject, !params.isArray {
      writeErrorResponse(
        .invalidRequest("invalidParams", detail: "params must be an object or an array"), id: id ?? .null)
      return true
    }
    return method.withStringBytes { name in
      dispatch(name, params: params, id: id)
    } ?? false
  }

  private func dispatch(_ name: UnsafeRawBufferPointer, params: JSONValue?, id: RPCID?) -> Bool {
    guard let id else {
      // A notification: never answered.
      if isShutDown && !Self.isExit(name) { return false }
      if let handler = notifications.lookup(name) {
        handler(params)
      } else if let handler = deferred.lookup(name) {
        _ = startDeferred(handler, params: params, id: nil)
      } else if let handler = requests.lookup(name) {
        var scratch = JSONWriter(capacity: 0)
        do {
          try handler(RequestContext(params: params, isNotification: true, id: nil), &scratch)
        } catch {
          logger.info("notification \(String(decoding: name, as: UTF8.self)) failed: \(error)")
        }
      } else {
        logger.debug("ignored unknown notification \(String(decoding: name, as: UTF8.self))")
      }
      return false
    }
    if isShutDown {
      writeErrorResponse(.invalidRequest("shutDown", detail: "the server is shut down; only exit is accepted"), id: id)
      return true
    }
    if !inFlight.isEmpty, inFlight[id] != nil {
      // The client could not tell the two answers apart.
      writeErrorResponse(
        .invalidRequest("duplicateId", detail: "a request with this id is still being answered"), id: id)
      return true
    }
    guard let handler = requests.lookup(name) else {
      if let handler = deferred.lookup(name) { return startDeferred(handler, params: params, id: id) }
      writeErrorResponse(.methodNotFound(String(decoding: name, as: UTF8.self)), id: id)
      return true
    }
    let start = output.writer.count
    let comma = output.writer.needsComma
    writeEnvelope(id: id)
    output.writer.key("result")
    do {
      try handler(RequestContext(params: params, isNotification: false, id: id), &output.writer)
      output.writer.endObject()
    } catch {
      output.writer.truncate(to: start, needsComma: comma)
      writeErrorResponse(error, id: id)
    }
    return true
  }

  /// Starts a deferred request (its id is known not to be in flight). Returns `true` when an answer was written at
  /// once (an error).
  private func startDeferred(
    _ entry: (handler: DeferredHandler, reservesID: Bool), params: JSONValue?, id: RPCID?
  ) -> Bool {
    let handler = entry.handler
    let reply = PendingReply(id: id, batch: currentBatch, reservesID: entry.reservesID)
    if let id {
      if entry.reservesID { inFlight[id] = reply } else { unreservedWaiting += 1 }
      if let batch = currentBatch {
        reply.slot = batch.parts.count
        batch.parts.append(nil)
      }
    } else if currentBatch != nil {
      silentBatchMembers.append(reply)
    }
    currentBatch?.outstanding += 1
    do {
      try handler(RequestContext(params: params, isNotification: id == nil, id: id), reply)
    } catch {
      guard !reply.isSettled else { return false }
      forget(reply)
      reply.isSettled = true
      currentBatch?.outstanding -= 1
      if id == nil {
        logger.info("notification failed: \(error)")
        return false
      }
      if let batch = reply.batch, let slot = reply.slot {
        var part = JSONWriter(capacity: 256)
        writeErrorResponse(error, id: id, into: &part)
        batch.parts[slot] = part.bytes
        return false
      }
      writeErrorResponse(error, id: id)
      return true
    }
    return false
  }

  /// Stops tracking `reply` as waiting.
  private func forget(_ reply: PendingReply) {
    if let id = reply.id {
      if reply.reservesID { inFlight[id] = nil } else { unreservedWaiting -= 1 }
    } else if reply.batch != nil {
      silentBatchMembers.removeAll { $0 === reply }
    }
  }

  /// `$/cancelRequest`: a request still waiting is answered with -32800 (LSP's RequestCancelled) after its owner
  /// was told; anything else (already answered, unknown) is ignored.
  private func cancel(_ params: JSONValue?) {
    guard let value = params?["id"], let id = RPCID(value), let reply = inFlight[id] else { return }
    reply.onCancel?()
    reject(reply, RPCError(.requestCancelled, data: ["id": value.string.map { .string($0) } ?? .int(value.int64 ?? 0)]))
  }

  private func writeEnvelope(id: RPCID?) {
    writeEnvelope(id: id, into: &output.writer)
  }

  private func writeEnvelope(id: RPCID?, into writer: inout JSONWriter) {
    writer.beginObject()
    writer.key("jsonrpc")
    writer.string("2.0")
    writer.key("id")
    (id ?? .null).write(to: &writer)
  }

  private func writeErrorResponse(_ error: RPCError, id: RPCID?) {
    writeErrorResponse(error, id: id, into: &output.writer)
  }

  private func writeErrorResponse(_ error: RPCError, id: RPCID?, into writer: inout JSONWriter) {
    writeEnvelope(id: id, into: &writer)
    writer.key("error")
    error.write(to: &writer)
    writer.endObject()
  }

  private static func isExit(_ name: UnsafeRawBufferPointer) -> Bool {
    name.elementsEqual("exit".utf8)
  }

  // MARK: - Lifecycle

  private func registerLifecycle() {
    register("shutdown") { [unowned self] _, result throws(RPCError) in
      isShutDown = true
      result.null()
    }
    registerNotification("exit") { [unowned self] _ in
      requestExit(code: isShutDown ? 0 : 1)
    }
    register("ping") { _, result throws(RPCError) in
      result.beginObject()
      result.endObject()
    }
    registerNotification("$/cancelRequest") { [unowned self] params in cancel(params) }
    registerNotification("initialized") { _ in }
  }
}
