/// The shared authority of the configuration: `"authority": {"postgres": {"url": "postgres://…", "account": "me"}}`.
extension UsageConfiguration {
  /// Where the account's usage is shared (a PostgreSQL database) and which account it is.
  public struct SharedAuthority: Sendable, Equatable {
    /// A `postgres://` URL or a libpq connection string.
    public var url: String?
    /// The account's name; every device of a person names the same one.
    public var account: String?
    public init(url: String? = nil, account: String? = nil) {
      self.url = url
      self.account = account
    }
  }

  static func authority(_ value: ConfigValue, over current: SharedAuthority?) throws(UsageError) -> SharedAuthority? {
    guard let members = value.objectMembers else {
      if value.isNull { return nil }
      throw .invalidField(field: "config.authority", reason: "must be an object")
    }
    var result = current
    for (key, member) in members {
      guard key == "postgres" else {
        throw .invalidField(field: "config.authority.\(key)", reason: "is not a known authority (postgres)")
      }
      guard let settings = member.objectMembers else {
        throw .invalidField(field: "config.authority.postgres", reason: "must be an object")
      }
      var shared = result ?? SharedAuthority()
      for (name, setting) in settings {
        guard let text = setting.string, !text.isEmpty else {
          throw .invalidField(field: "config.authority.postgres.\(name)", reason: "must be a non-empty string")
        }
        switch name {
        case "url": shared.url = text
        case "account": shared.account = text
        default: throw .invalidField(field: "config.authority.postgres.\(name)", reason: "is not a known setting")
        }
      }
      result = shared
    }
    return result
  }
}
