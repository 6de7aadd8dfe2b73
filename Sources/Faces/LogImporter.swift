import Dispatch
import Glibc
public import Ledger
public import UsageCore

/// Brings the usage LLM tools logged into a metric of the ledger (tokens): finds the logs, reads them line by line,
/// prices each call with the metric's hook (the price table), and writes the calls not imported before at their own
/// times, in transactions of tens of thousands; a batch is written on another thread while the next one is read. A
/// line that cannot be read is counted, never fatal.
public final class LogImporter {
  /// Which tool's logs.
  public enum Tool: String, Sendable, CaseIterable {
    case claude, codex
  }

  /// How far an import got.
  public struct Progress: Sendable, Equatable {
    public var files = 0
    public var totalFiles = 0
    public var lines = 0
    /// Calls found (each counted once, also when its lines repeat).
    public var entries = 0
    /// Calls written now (or, in a dry run, that would be).
    public var imported = 0
    /// Calls already in the ledger from an earlier import.
    public var alreadyImported = 0
    public var malformed = 0
    /// Tokens and cost of the calls imported.
    public var tokens: Int64 = 0
    public var cost = 0.0
    /// Calls of models the price table does not know (counted at zero cost).
    public var unpriced = 0
    /// Bytes of the logs read so far, and in all.
    public var bytesRead: Int64 = 0
    public var totalBytes: Int64 = 0
  }

  public let tool: Tool
  public let metric: String
  let hook: (any MeasureHook)?
  let store: LedgerStore?
  let dryRun: Bool
  public private(set) var progress = Progress()
  /// Calls written per transaction: each commit waits for the disk, so an import makes few of them; small enough
  /// that reading the next batch overlaps most of the writing.
  static let batchSize = 20_000
  /// The batch being written, if any: the ledger is used by that write alone until it is waited for.
  private var pending: PendingWrite?
  private var known: Set<String> = []
  private var seen: Set<String> = []
  private var batch: [LedgerChange] = []
  private var lastLabels:
    (model: String, conversation: String?, provider: String, tool: String, labels: [String: String])?
  /// Called now and then as the import goes (for a progress bar).
  public var onProgress: ((Progress) -> Void)?

  /// - Parameters:
  ///   - store: the ledger written to; `nil` reads and counts only (a dry run without a ledger).
  ///   - hook: the metric's measure hook, which prices a call; `nil` counts calls at zero cost.
  public init(tool: Tool, metric: String, store: LedgerStore?, hook: (any MeasureHook)?, dryRun: Bool)
    throws(LedgerError)
  {
    self.tool = tool
    self.metric = metric
    self.store = store
    self.hook = hook
    self.dryRun = dryRun
    known = try store?.importedKeys(prefix: tool == .claude ? "claude:" : "codex:") ?? []
    if !dryRun { try store?.enlargeCache(mebibytes: 64) }
  }

  /// The default places of `tool`'s logs that exist, from `environment`: `CLAUDE_CONFIG_DIR` (a comma-separated
  /// list of directories, each with `projects/`), else `~/.config/claude/projects` and `~/.claude/projects`;
  /// `$CODEX_HOME/sessions`, else `~/.codex/sessions`.
  public static func defaultPaths(_ tool: Tool, environment: [String: String]) -> [String] {
    let home = environment["HOME"] ?? ""
    let candidates: [String]
    switch tool {
    case .claude:
      if let configured = environment["CLAUDE_CONFIG_DIR"], !configured.isEmpty {
        candidates = configured.split(separator: ",").map { $0.trimmingCharacters(in: " ") + "/projects" }
      } else {
        candidates = [home + "/.config/claude/projects", home + "/.claude/projects"]
      }
    case .codex:
      if let configured = environment["CODEX_HOME"], !configured.isEmpty {
        candidates = [configured + "/sessions"]
      } else {
        candidates = [home + "/.codex/sessions"]
      }
    }
    return candidates.filter { isDirectory($0) }
  }

  /// Every `.jsonl` file under `paths` (files are taken as they are), in name order.
  public static func logFiles(_ paths: [String]) -> [String] {
    var files: [String] = []
    for path in paths {
      if isDirectory(path) { collect(path, into: &files) } else { files.append(path) }
    }
    return files
  }

  /// Imports `files`; throws only when the ledger cannot be written.
  public func run(_ files: [String]) throws(LedgerError) {
    progress.totalFiles = files.count
    progress.totalBytes = files.reduce(0) { $0 + Self.size($1) }
    onProgress?(progress)
    for file in files {
      try importFile(file)
      progress.files += 1
      onProgress?(progress)
    }
    try flush()
    try finishWrite()
    onProgress?(progress)
  }

  private func importFile(_ path: String) throws(LedgerError) {
    guard let handle = fopen(path, "r") else {
      progress.malformed += 1
      return
    }
    defer { fclose(handle) }
    var codex = CodexLogReader(fileName: path)
    let claude = ClaudeLogReader()
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    defer { free(line) }
    var lastReport = progress.lines
    while true {
      let length = getline(&line, &capacity, handle)
      guard length >= 0, let line else { break }
      progress.bytesRead += Int64(length)
      // The line's bytes without its end and surrounding blanks, read in place.
      var bytes = UnsafeRawBufferPointer(start: line, count: length)
      while let last = bytes.last, last == 0x0A || last == 0x0D || last == 0x20 || last == 0x09 {
        bytes = UnsafeRawBufferPointer(rebasing: bytes.dropLast())
      }
      while let first = bytes.first, first == 0x20 || first == 0x09 {
        bytes = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
      }
      if bytes.isEmpty { continue }
      progress.lines += 1
      switch tool == .claude ? claude.read(bytes: bytes) : codex.read(bytes: bytes) {
      case .usage(let usage): try count(usage)
      case .other: break
      case .malformed: progress.malformed += 1
      }
      if progress.lines - lastReport >= 10_000 {
        lastReport = progress.lines
        onProgress?(progress)
      }
    }
  }

  private func count(_ usage: LoggedUsage) throws(LedgerError) {
    guard seen.insert(usage.key).inserted else { return }
    progress.entries += 1
    guard !known.contains(usage.key) else {
      progress.alreadyImported += 1
      return
    }
    let fields = [usage.input, usage.output, usage.cacheRead, usage.cacheWrite]
    // Calls in a row mostly share their model and session: their labels are made once (and, being the same
    // dictionary, compared and encoded once by the ledger).
    let labels: [String: String]
    if let last = lastLabels, last.model == usage.model, last.conversation == usage.conversation,
      last.provider == usage.provider, last.tool == usage.tool
    {
      labels = last.labels
    } else {
      labels = usage.labels
      lastLabels = (usage.model, usage.conversation, usage.provider, usage.tool, labels)
    }
    let measurement: Measurement
    do throws(UsageError) {
      measurement = try hook?.measure(MeasureInput(fields: fields, labels: labels)) ?? Measurement(amount: usage.tokens)
    } catch {
      progress.malformed += 1
      return
    }
    progress.imported += 1
    progress.tokens &+= measurement.amount
    progress.cost += measurement.cost
    if !measurement.priced { progress.unpriced += 1 }
    batch.append(
      LedgerChange(
        metric: metric, delta: measurement.amount, at: usage.at, key: usage.key, label: usage.model,
        detail: ChangeDetail(fields: fields, cost: measurement.cost, priced: measurement.priced), labels: labels))
    if batch.count >= Self.batchSize { try flush() }
  }

  /// Hands the batch to a writer thread, once the previous batch is written.
  private func flush() throws(LedgerError) {
    guard !dryRun, let store, !batch.isEmpty else {
      batch.removeAll(keepingCapacity: true)
      return
    }
    try finishWrite()
    let write = PendingWrite(store: store, changes: batch)
    batch = []
    batch.reserveCapacity(Self.batchSize)
    pending = write
    DispatchQueue.global().async { write.run() }
  }

  /// Waits for the batch being written; throws what its write threw.
  private func finishWrite() throws(LedgerError) {
    guard let write = pending else { return }
    pending = nil
    try write.wait()
  }

  deinit {
    // An import that stopped on an error still lets the batch in flight end before the ledger goes.
    try? finishWrite()  // harmless: its error was reported by the import
  }

  static func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
  }

  static func size(_ path: String) -> Int64 {
    var status = stat()
    return stat(path, &status) == 0 ? Int64(status.st_size) : 0
  }

  private static func collect(_ directory: String, into files: inout [String]) {
    guard let stream = opendir(directory) else { return }
    defer { closedir(stream) }
    var names: [String] = []
    while let entry = readdir(stream) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      if name != "." && name != ".." { names.append(name) }
    }
    for name in names.sorted() {
      let path = directory + "/" + name
      if isDirectory(path) {
        collect(path, into: &files)
      } else if name.hasSuffix(".jsonl") {
        files.append(path)
      }
    }
  }
}

extension StringProtocol {
  /// Without the leading and trailing characters of `set`.
  func trimmingCharacters(in set: String) -> String {
    var scalars = Substring(self)
    while let first = scalars.first, set.contains(first) { scalars = scalars.dropFirst() }
    while let last = scalars.last, set.contains(last) { scalars = scalars.dropLast() }
    return String(scalars)
  }
}

/// One batch written on another thread. The importer hands the ledger over with it and touches neither until
/// ``wait()`` returns, so the ledger and the result are never used by two threads at once.
private final class PendingWrite: @unchecked Sendable {
  private let store: LedgerStore
  private let changes: [LedgerChange]
  private let done = DispatchSemaphore(value: 0)
  private var error: LedgerError?

  init(store: LedgerStore, changes: [LedgerChange]) {
    self.store = store
    self.changes = changes
  }

  func run() {
    do throws(LedgerError) {
      try store.importChanges(changes)
    } catch {
      self.error = error
    }
    done.signal()
  }

  func wait() throws(LedgerError) {
    done.wait()
    if let error { throw error }
  }
}
