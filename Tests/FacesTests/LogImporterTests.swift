import Faces
import Foundation
import Ledger
import Testing

/// The importer over a real ledger, with more calls than one transaction holds: batches are written on another thread
/// while the next ones are read.
@Suite("Log importer")
struct LogImporterTests {
  static func line(_ index: Int) -> String {
    #"{"type":"assistant","sessionId":"s\#(index / 1000)","timestamp":"2025-11-\#(String(format: "%02d", 1 + index % 28))T10:00:00.000Z","requestId":"r\#(index)","message":{"id":"m\#(index)","model":"claude-sonnet-4-5","usage":{"input_tokens":\#(1 + index % 7),"output_tokens":2}}}"#
  }

  @Test("several batches: every call counted once, repeats and malformed lines apart; a second import adds nothing")
  func batches() throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "usagectx-import-\(UUID().uuidString)"
    )
    .path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let calls = 45_001
    var text = ""
    for index in 0..<calls {
      text += Self.line(index) + "\n"
      if index % 5_000 == 0 { text += Self.line(index) + "\n" + "{not json\n" }
    }
    let log = directory + "/log.jsonl"
    try text.write(toFile: log, atomically: true, encoding: .utf8)
    let expectedTokens = (0..<calls).reduce(Int64(0)) { $0 + Int64(1 + $1 % 7 + 2) }

    let store = try LedgerStore(directory: directory + "/state")
    let first = try LogImporter(tool: .claude, metric: "tokens", store: store, hook: nil, dryRun: false)
    try first.run([log])
    #expect(first.progress.entries == calls)
    #expect(first.progress.imported == calls)
    #expect(first.progress.malformed == 10)
    #expect(first.progress.tokens == expectedTokens)
    #expect(try store.importedKeys(prefix: "claude:").count == calls)

    let second = try LogImporter(tool: .claude, metric: "tokens", store: store, hook: nil, dryRun: false)
    try second.run([log])
    #expect(second.progress.imported == 0)
    #expect(second.progress.alreadyImported == calls)
    var rows = 0
    var sum: Int64 = 0
    try store.forEachChange(metric: "tokens", since: nil, until: nil) { row in
      rows += 1
      sum += row.delta
    }
    #expect(rows == calls)
    #expect(sum == expectedTokens)
  }
}
