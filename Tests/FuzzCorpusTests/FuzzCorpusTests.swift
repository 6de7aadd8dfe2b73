import FuzzTargets
import Foundation
import Testing

/// Every file of the fuzz targets' seed corpus (`fuzz/corpus/TARGET/`) and every input a fuzzer once found failing
/// (`fuzz/regressions/TARGET/`) runs through its target, as libFuzzer runs it: a file that traps fails the run.
@Suite("Fuzz corpus")
struct FuzzCorpusTests {
  static let fuzzDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("fuzz")

  /// The files of `fuzz/KIND/TARGET`, sorted.
  static func files(_ kind: String, _ target: FuzzTarget) -> [URL] {
    let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target.rawValue)
    // A missing folder is an empty corpus, and the seed count is checked below.
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []  // harmless
    return names.sorted().map { directory.appendingPathComponent($0) }
  }

  @Test("every seed and regression input runs through its target", arguments: FuzzTarget.allCases)
  func replay(target: FuzzTarget) throws {
    let seeds = Self.files("corpus", target)
    #expect(seeds.count >= 10, "the seed corpus of \(target.rawValue) is missing (fuzz/corpus/\(target.rawValue))")
    for file in seeds + Self.files("regressions", target) {
      let bytes = try Data(contentsOf: file)
      bytes.withUnsafeBytes { target.run($0) }
    }
  }
}
