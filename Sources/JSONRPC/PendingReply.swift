/// A request that is answered later: given to a deferred method's handler, settled once (resolved or rejected)
/// on the server's loop thread through the dispatcher.
public final class PendingReply {
  /// The request's id; `nil` for a deferred method sent as a notification (settling it writes nothing).
  public let id: RPCID?
  /// Called when the client cancels the request (`$/cancelRequest`), before the cancellation is answered; the
  /// owner stops the work it was waiting for, if nobody else needs it.
  public var onCancel: (() -> Void)?
  /// The batch this request belongs to, whose answer array waits for it.
  let batch: BatchAnswer?
  /// Its place in that batch's answer array (the request's place among the batch's answered requests).
  var slot: Int?
  /// `true` once answered (or cancelled); later attempts to settle it are ignored.
  public internal(set) var isSettled = false
  /// For a request run in-process (``Dispatcher/callLocally(_:params:completion:)``): who gets its answer instead of
  /// the output.
  var local: ((LocalCallResult) -> Void)?
  /// Whether its id stays reserved while it waits (see ``Dispatcher/registerDeferred(_:reservesID:_:)``).
  let reservesID: Bool

  init(id: RPCID?, batch: BatchAnswer?, reservesID: Bool = true) {
    self.id = id
    self.batch = batch
    self.reservesID = reservesID
  }
}

/// The answers to one batch, gathered until every request in it, deferred ones included, has been answered; then
/// sent as one array in the order of the requests (or not at all when there is nothing to send).
final class BatchAnswer {
  /// Each answered request's answer, in request order; `nil` while a deferred one waits.
  var parts: [[UInt8]?] = []
  var outstanding = 0
}
