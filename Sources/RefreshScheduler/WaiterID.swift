/// Who waits for a manual refresh: an opaque number the caller picks (the service maps it to a JSON-RPC request).
public struct WaiterID: Hashable, Comparable, Sendable, ExpressibleByIntegerLiteral, CustomStringConvertible {
  public var rawValue: UInt64

  public init(_ rawValue: UInt64) { self.rawValue = rawValue }
  public init(integerLiteral value: UInt64) { rawValue = value }

  public static func < (lhs: WaiterID, rhs: WaiterID) -> Bool { lhs.rawValue < rhs.rawValue }

  public var description: String { "waiter \(rawValue)" }
}
