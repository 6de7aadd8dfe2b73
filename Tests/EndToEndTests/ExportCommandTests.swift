import Foundation
import JSON
import Testing

/// `usagectx export` and the report's label groupings, over changes recorded through the binary.
@Suite("usagectx export and report by label")
struct ExportCommandTests {
  /// Four token changes in two conversations with two providers, one with a key, and a request.
  static func recorded() throws -> String {
    let state = StatusCommandTests.directory()
    let changes = [
      #"{"metric":"tokens","input":1000,"output":200,"labels":{"model":"gpt-4o","provider":"openai","conversation":"chat-1"}}"#,
      #"{"metric":"tokens","input":300,"output":100,"labels":{"model":"claude-sonnet-4-5","provider":"anthropic","conversation":"chat-1"}}"#,
      #"{"metric":"tokens","input":50,"output":5,"key":"k-1","labels":{"model":"gpt-4o","provider":"openai","conversation":"chat, 2"}}"#,
      #"{"metric":"tokens","input":7,"output":3}"#,
      #"{"metric":"requests"}"#,
    ]
    for params in changes { try StatusCommandTests.call(state, "usage/increment", params) }
    return state
  }

  @Test("export: one row per change with fields, model, provider, conversation, cost, currency and key")
  func csvAndJSONLines() throws {
    let state = try Self.recorded()
    let csv = try OneShotCommand.run(["export", "--state", state])
    #expect(csv.status == 0, "\(csv.stderr)")
    let lines = csv.stdout.split(separator: "\r\n", omittingEmptySubsequences: true)
    #expect(lines.count == 1 + 5)
    #expect(
      lines.first
        == "time,metric,kind,amount,changes,input,output,cacheRead,cacheWrite,model,provider,conversation,cost,currency,key"
    )
    let third = lines[3].split(separator: ",", omittingEmptySubsequences: false).dropFirst().joined(separator: ",")
    #expect(third == #"tokens,change,55,1,50,5,0,0,gpt-4o,openai,"chat, 2",0.000175,USD,k-1"#)
    #expect(lines[5].hasSuffix(",requests,change,1,1,,,,,,,,,,"))

    let jsonl = try OneShotCommand.run(["export", "--state", state, "--format", "jsonl", "--metric", "tokens"])
    let rows = try jsonl.stdout.split(separator: "\n").map { try JSONData(parsing: String($0)) }
    #expect(rows.count == 4)
    #expect(rows[0]["input"] == 1000)
    #expect(rows[0]["cost"] == 0.0045)
    #expect(rows[1]["labels"] == ["model": "claude-sonnet-4-5", "provider": "anthropic", "conversation": "chat-1"])
    #expect(rows[3]["model"] == "unknown")
    #expect(rows[3]["amount"] == 10)
    let none = try OneShotCommand.run(["export", "--state", state, "--since", "2999-01-01"])
    #expect(none.stdout.split(separator: "\r\n").count == 1)
  }

  @Test("report --by conversation, provider and week, and --label for one conversation, against hand sums")
  func reportByLabel() throws {
    let state = try Self.recorded()
    let conversations = try OneShotCommand.run(
      ["report", "--state", state, "--by", "conversation", "--metric", "tokens", "--format", "csv"])
    #expect(
      conversations.stdout
        == "metric,conversation,total,changes,input,output,cacheRead,cacheWrite,cost,currency\r\n"
        + "tokens,\"chat, 2\",55,1,50,5,0,0,0.000175,USD\r\n"
        + "tokens,chat-1,1600,2,1300,300,0,0,0.0069,USD\r\n"
        + "tokens,,10,1,7,3,0,0,0,USD\r\n")
    let providers = try OneShotCommand.run(
      ["report", "--state", state, "--by", "provider", "--label", "conversation=chat-1", "--format", "json"])
    let json = try JSONData(parsing: providers.stdout)
    #expect(json["groupBy"] == "provider")
    #expect(json["rows"]?.array?.compactMap { $0["group"]?.string } == ["anthropic", "openai"])
    #expect(json["rows"]?[1]?["input"] == 1000)
    let weeks = try OneShotCommand.run(["report", "--state", state, "--by", "week", "--metric", "tokens"])
    #expect(weeks.status == 0)
    #expect(weeks.stdout.contains("1665"))
    #expect(weeks.stdout.contains("-W"))
  }
}
