/// Where one metric's authoritative value lives: a directory scan, a program, the local store, and later a shared
/// database. Every source of truth is reached through this one interface, so adding a kind of source adds a type,
/// not a rewrite.
public protocol Authority: Sendable {
  /// A short description for logs and error messages ("directory scan", "exec plugin billing").
  var name: String { get }

  /// Reads the metric's authoritative value. May block up to the source's own timeout; never call it while
  /// holding the usage context's lock.
  func read() throws(AuthorityError) -> Int64

  /// Passes a local change on to the authority (write-through). Must not block: sources that talk to another
  /// process queue the change. Sources that are only read ignore it.
  func report(delta: Int64, key: String?)
}

extension Authority {
  public func report(delta: Int64, key: String?) {}
}

/// Why an authority could not be read.
public struct AuthorityError: Error, Equatable, Sendable, CustomStringConvertible {
  public var message: String
  /// When the source asked not to be asked again before some time (milliseconds), as a `Retry-After`.
  public var retryAfterMilliseconds: Int64?

  public init(_ message: String, retryAfterMilliseconds: Int64? = nil) {
    self.message = message
    self.retryAfterMilliseconds = retryAfterMilliseconds
  }

  public var description: String { message }
}
