import Glibc
import JSON
import JSONRPC
import Logging
import RefreshScheduler
import UsageCore
import UsageServer

/// The dispatch target: one session per input, wired as the sidecar wires a session without a ledger on disk (the
/// same server loop, dispatcher, usage service, committer and synchronizer), over a metric of each shape: a count,
/// daily requests, monthly tokens with fields and a breakdown. The input is the client's whole stream (either
/// framing). The session must end by itself at the end of input, and everything it wrote must be well-formed messages
/// in the client's framing, each a JSON-RPC 2.0 object or a batch's array of them (stdout belongs to the protocol).
enum SessionFuzzing {
  /// The metrics of every fuzzed session.
  struct Metrics: MetricPlugin {
    var info: PluginInfo { PluginInfo(name: "fuzz", version: "1.0.0") }

    func metrics(options: ConfigValue) throws(UsageError) -> [MetricDefinition] {
      [
        MetricDefinition(
          descriptor: MetricDescriptor(
            name: "documents", unit: "documents", kind: .count, limits: TierLimits(free: 100, pro: 10_000, ultra: nil))),
        MetricDefinition(
          descriptor: MetricDescriptor(
            name: "requests", unit: "requests", kind: .requests, limits: TierLimits(free: 3, pro: 5_000, ultra: 50_000),
            period: .daily)),
        MetricDefinition(
          descriptor: MetricDescriptor(
            name: "tokens", unit: "tokens", kind: .tokens, limits: TierLimits(free: 100_000, pro: nil, ultra: nil),
            period: .monthly, fields: ["input", "output"], breakdownLabel: "model", currency: "USD")),
      ]
    }
  }

  /// Runs one session on `input`; `face` chooses the protocol the session speaks (usagectx's own or MCP).
  static func run(_ input: UnsafeRawBufferPointer, face: Sidecar.Face = .usage) {
    var ends: [Int32] = [-1, -1]
    guard pipe(&ends) == 0 else { fatalError("pipe: \(errno)") }
    // The input is written before the session starts and the pipe closed, so the session reads it to its end. A pipe
    // holds 64 KiB; longer inputs are cut there.
    var stream = Array(input.prefix(60 * 1024))
    // In newline framing a last request (the sentinel) must always be answered, whatever came before it, unless the
    // input may hold an `exit` notification, which ends the session.
    let framing = stream.withUnsafeBytes { FramingDetector.detect($0, atEnd: true) } ?? .newline
    let expectsSentinel = framing == .newline && !stream.contains(subsequence: Array("exit".utf8))
    if expectsSentinel { stream += Array("\n\(sentinel)\n".utf8) }
    if !stream.isEmpty {
      let written = write(ends[1], stream, stream.count)
      fuzzCheck(written == stream.count, "pipe write: \(written)")
    }
    close(ends[1])
    defer { close(ends[0]) }
    var logger = Logger(label: "fuzz")
    logger.logLevel = .critical
    let context: UsageContext
    do {
      context = try UsageContext(plugins: [Metrics()], configuration: UsageConfiguration())
    } catch {
      fatalError("the fuzz session's metrics were refused: \(error)")
    }
    // Answers go to an unnamed temporary file, read back and checked once the session ended.
    guard let file = tmpfile() else { fatalError("tmpfile: \(errno)") }
    defer { fclose(file) }
    let sink = fileno(file)
    let dispatcher = Dispatcher(output: OutputChannel(fd: sink), logger: logger)
    var configuration = StdioServer.Configuration()
    configuration.maxMessageBytes = 16 * 1024
    let server = StdioServer(input: ends[0], dispatcher: dispatcher, configuration: configuration, logger: logger)
    let jobs = server.jobs
    let policies: [RefreshPolicy]
    do {
      policies = try RefreshSettings.policies(UsageConfiguration(), metrics: context.metricNames)
    } catch {
      fatalError("default refresh settings refused: \(error)")
    }
    let synchronizer = Synchronizer(
      context: context, policies: policies, clock: SystemSchedulerClock(), post: { jobs.post($0) })
    let service = UsageService(
      context: context, dispatcher: dispatcher, ledger: MemoryLedger(), synchronizer: synchronizer, logger: logger)
    let mcp = face == .mcp ? MCPServer(service: service, logger: logger) : nil
    server.onBurstEnd = {
      service.commitChanges()
      service.pumpRefreshes()
      service.sendChanges()
      mcp?.sendUpdates()
    }
    server.onStop = { service.commitChanges() }
    _ = server.run()
    let output = checkOutput(sink, framing: dispatcher.output.framing)
    if expectsSentinel {
      fuzzCheck(output.contains(subsequence: Array(#""id":"fuzz-sentinel""#.utf8)), "the last request was not answered")
    }
  }

  /// The request appended to newline-framed inputs.
  static let sentinel = #"{"jsonrpc":"2.0","id":"fuzz-sentinel","method":"ping"}"#

  /// Reads back what the session wrote, checks that every message is framed and a JSON-RPC 2.0 object, and returns it.
  static func checkOutput(_ fd: Int32, framing: Framing) -> [UInt8] {
    let size = Int(lseek(fd, 0, SEEK_END))
    guard size > 0 else { return [] }
    var bytes = [UInt8](repeating: 0, count: size)
    let read = pread(fd, &bytes, size, 0)
    fuzzCheck(read == size, "pread: \(read) of \(size)")
    var messages: [ArraySlice<UInt8>] = []
    switch framing {
    case .newline:
      fuzzCheck(bytes.last == UInt8(ascii: "\n"), "output does not end with a newline")
      messages = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).dropLast()
    case .contentLength:
      var rest = bytes[...]
      let prefix = Array("Content-Length: ".utf8)
      while !rest.isEmpty {
        fuzzCheck(rest.starts(with: prefix), "output frame without its header")
        rest = rest.dropFirst(prefix.count)
        let digits = rest.prefix { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        let length = Int(String(decoding: digits, as: UTF8.self)) ?? -1
        rest = rest.dropFirst(digits.count)
        fuzzCheck(rest.starts(with: Array("\r\n\r\n".utf8)), "output header not ended by an empty line")
        rest = rest.dropFirst(4)
        fuzzCheck(length >= 0 && length <= rest.count, "output frame of \(length) bytes with \(rest.count) left")
        messages.append(rest.prefix(length))
        rest = rest.dropFirst(length)
      }
    }
    for message in messages {
      let valid = message.withUnsafeBytes { raw -> Bool in
        guard let document = try? JSONDocument.parse(raw) else { return false }  // harmless: the failure is the finding
        return document.withRoot { (root: JSONValue) -> Bool in
          func isMessage(_ value: JSONValue) -> Bool { value.isObject && value["jsonrpc"]?.stringEquals("2.0") == true }
          // A batch's answers come as one array.
          if root.isArray { return !root.elements.isEmpty && root.elements.allSatisfy(isMessage) }
          return isMessage(root)
        }
      }
      fuzzCheck(valid, "not a JSON-RPC message: \(String(decoding: message, as: UTF8.self))")
    }
    return bytes
  }
}
