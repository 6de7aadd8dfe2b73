import Testing
import UsageCore

/// The shared authority of the configuration: `"authority": {"postgres": {"url": …, "account": …}}`.
@Suite("Shared authority configuration")
struct SharedAuthorityConfigurationTests {
  @Test("url and account are read; a later merge keeps what it does not name")
  func readAndMerged() throws {
    var configuration = try UsageConfiguration(
      ["authority": ["postgres": ["url": "postgres://db/usage", "account": "alice"]]])
    #expect(configuration.sharedAuthority == .init(url: "postgres://db/usage", account: "alice"))
    try configuration.merge(["authority": ["postgres": ["account": "bob"]]])
    #expect(configuration.sharedAuthority == .init(url: "postgres://db/usage", account: "bob"))
  }

  @Test(
    "errors name the setting",
    arguments: [
      (["authority": "postgres://db"], "config.authority"),
      (["authority": ["mysql": ["url": "x"]]], "config.authority.mysql"),
      (["authority": ["postgres": "postgres://db"]], "config.authority.postgres"),
      (["authority": ["postgres": ["url": ""]]], "config.authority.postgres.url"),
      (["authority": ["postgres": ["account": 7]]], "config.authority.postgres.account"),
      (["authority": ["postgres": ["password": "x"]]], "config.authority.postgres.password"),
    ] as [(ConfigValue, String)])
  func refused(value: ConfigValue, field: String) {
    var configuration = UsageConfiguration()
    #expect(UsageConfigurationTests.fieldOfError { () throws(UsageError) in try configuration.merge(value) } == field)
    #expect(configuration == UsageConfiguration())
  }
}
