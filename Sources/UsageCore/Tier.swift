/// A plan tier. Limits are set per tier.
public enum Tier: String, CaseIterable, Sendable, Equatable {
  case free, pro, ultra
}
