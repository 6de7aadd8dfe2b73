public import JSON

/// What a method run in-process answered: the bytes of its `result` (one JSON value), or its error.
public typealias LocalCallResult = Result<[UInt8], RPCError>

/// Running registered methods in-process, as if a client had sent them, without writing anything to the output: a
/// face built on the same session (another protocol over the same methods) takes the same code paths as a client,
/// deferred answers included.
extension Dispatcher {
  /// Runs the request method `method` with `params` (an object or an array, or `nil`) and hands its answer to
  /// `completion`: before returning for a method answered at once, when it is settled for a deferred one (a change
  /// waiting for its commit, a refresh waiting for its reads). Requests waiting for the burst's commit are settled
  /// first when the method is answered at once, as they are before a client's request, so the call sees them.
  /// An unknown method is answered `-32601`.
  public func callLocally(
    _ method: String, params: JSONValue?, completion: @escaping (LocalCallResult) -> Void
  ) {
    if let handler = requests.lookup(method) {
      beforeAnsweringAtOnce?()
      var writer = JSONWriter(capacity: 256)
      do throws(RPCError) {
        try handler(RequestContext(params: params, isNotification: false, id: nil), &writer)
      } catch {
        return completion(.failure(error))
      }
      return completion(.success(writer.bytes))
    }
    guard let entry = deferred.lookup(method) else {
      return completion(.failure(.methodNotFound(method)))
    }
    // No id and no batch: the dispatcher neither reserves nor writes it; settling it calls `completion`.
    let reply = PendingReply(id: nil, batch: nil, reservesID: false)
    reply.local = completion
    do throws(RPCError) {
      try entry.handler(RequestContext(params: params, isNotification: false, id: nil), reply)
    } catch {
      settleLocally(reply, error)
    }
  }

  /// Runs `method` with params given as a JSON value built in memory (see ``callLocally(_:params:completion:)``).
  public func callLocally(
    _ method: String, params: JSONData?, completion: @escaping (LocalCallResult) -> Void
  ) {
    guard let params else { return callLocally(method, params: nil as JSONValue?, completion: completion) }
    let document: JSONDocument
    do {
      document = try JSONDocument.parse(params.jsonText, maxDepth: limits.maxDepth)
    } catch {
      return completion(.failure(RPCError(.invalidParams, data: ["detail": .string(error.description)])))
    }
    document.withRoot { root in callLocally(method, params: root, completion: completion) }
  }

  /// Runs the notification handler of `method` with `params`, if one is registered; returns whether one was.
  @discardableResult
  public func notifyLocally(_ method: String, params: JSONValue?) -> Bool {
    guard let handler = notifications.lookup(method) else { return false }
    handler(params)
    return true
  }

  /// Settles an in-process request with the result `result` writes.
  func settleLocally(_ reply: PendingReply, _ result: (inout JSONWriter) -> Void) {
    guard !reply.isSettled, let completion = reply.local else { return }
    reply.isSettled = true
    reply.local = nil
    var writer = JSONWriter(capacity: 256)
    result(&writer)
    completion(.success(writer.bytes))
  }

  /// Settles an in-process request with an error.
  func settleLocally(_ reply: PendingReply, _ error: RPCError) {
    guard !reply.isSettled, let completion = reply.local else { return }
    reply.isSettled = true
    reply.local = nil
    completion(.failure(error))
  }
}
