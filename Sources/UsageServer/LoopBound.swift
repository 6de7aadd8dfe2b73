/// A weak reference to an object owned by the session's loop thread, handed to work that runs elsewhere so that the
/// job it posts back can reach the object. Only dereferenced on the loop thread (the job queue runs jobs there),
/// which is what makes the unchecked `Sendable` sound.
final class LoopBound<Value: AnyObject>: @unchecked Sendable {
  weak var value: Value?
  init(_ value: Value) { self.value = value }
}
