public import JSON

/// What a method handler is given: the parameters (borrowed from the message) and whether an answer is expected.
public struct RequestContext {
  /// The `params` member, if present (an object or an array). Valid only during the call.
  public let params: JSONValue?
  /// `true` for a notification: the handler runs, but its result is dropped and errors are only logged.
  public let isNotification: Bool
  /// The request id (`nil` for notifications).
  public let id: RPCID?

  public init(params: JSONValue?, isNotification: Bool, id: RPCID?) {
    self.params = params
    self.isNotification = isNotification
    self.id = id
  }
}

/// Answers a request by writing exactly one JSON value (the `result`) into the writer, or by throwing.
public typealias RequestHandler = (RequestContext, inout JSONWriter) throws(RPCError) -> Void

/// Handles a notification (no answer is ever sent).
public typealias NotificationHandler = (JSONValue?) -> Void

/// Starts answering a request whose result comes later: keeps the reply and settles it with
/// ``Dispatcher/resolve(_:_:)`` or ``Dispatcher/reject(_:_:)``; throwing answers at once with the error.
public typealias DeferredHandler = (RequestContext, PendingReply) throws(RPCError) -> Void
