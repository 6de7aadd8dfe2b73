/// A metric's limit in each tier; `nil` means unlimited.
public struct TierLimits: Sendable, Equatable {
  public var free: Int64?
  public var pro: Int64?
  public var ultra: Int64?

  public init(free: Int64?, pro: Int64?, ultra: Int64?) {
    self.free = free
    self.pro = pro
    self.ultra = ultra
  }

  /// No limit in any tier.
  public static let unlimited = TierLimits(free: nil, pro: nil, ultra: nil)

  public subscript(tier: Tier) -> Int64? {
    get {
      switch tier {
      case .free: return free
      case .pro: return pro
      case .ultra: return ultra
      }
    }
    set {
      switch tier {
      case .free: free = newValue
      case .pro: pro = newValue
      case .ultra: ultra = newValue
      }
    }
  }
}
