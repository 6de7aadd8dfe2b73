import Foundation
import Logging
import Synchronization
import Testing
import UsageCore

@testable import PluginHost

/// Exec plugins at the plugin host's level, against the fixture program `Tests/Fixtures/plugins/exec/fixture.py`:
/// describing, reading through the authority, write-through reports, deadlines, restarts and shutdown.
@Suite("Exec plugins (host)")
struct ExecAuthorityTests {
  @Test("a program describes its metrics, answers reads and receives reports")
  func describeReadReport() throws {
    let fixture = try ExecFixture()
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let plugin = try fixture.plugin(
      arguments: ["--name", "billing", "--metric", "seats", "--source", "tokens"], name: "billing",
      environment: ["FIXTURE_REPORTS": reports.path], options: #"{"value": 11}"#)
    defer { plugin.shutdown() }

    let definitions = try plugin.metrics(options: .null)
    #expect(definitions.map(\.descriptor.name) == ["seats"])
    let descriptor = try #require(definitions.first?.descriptor)
    #expect(descriptor.limits == TierLimits(free: 10, pro: 100, ultra: nil))
    #expect(descriptor.period == .monthly)
    #expect(descriptor.unit == "seats")
    #expect(plugin.info == PluginInfo(name: "billing", version: "2.1.0"))
    let authority = try #require(definitions.first?.authority)
    #expect(authority.name == "exec plugin billing")
    // The manifest's options are the default: the fixture answers options.value.
    #expect(try authority.read() == 11)

    // The configuration's section wins, and a new one is described again.
    _ = try plugin.metrics(options: .object(["value": .number(12)]))
    #expect(try authority.read() == 12)

    // Sources: authorities for other plugins' metrics.
    let sources = plugin.sourceAuthorities()
    #expect(Array(sources.keys) == ["tokens"])
    #expect(try sources["tokens"]?.read() == 12)

    let status = plugin.status()
    #expect(status.kind == .exec)
    #expect(status.state == .loaded)
    #expect(status.metrics == ["seats"])
    #expect(status.sources == ["tokens"])
    #expect(status.version == "2.1.0")
    #expect(status.lastError == nil)

    // Reports are written through without waiting for their answers (their outcomes come later).
    #expect(authority.report(ReportedChange(seq: 1, delta: 5, key: "order-17")) == .pending)
    _ = sources["tokens"]?.report(ReportedChange(seq: 1, delta: -2, key: nil))
    let lines = try ExecFixture.waitForLines(in: reports, count: 2)
    #expect(lines.contains(#"{"metric": "seats", "seq": 1, "delta": 5, "key": "order-17"}"#))
    #expect(lines.contains(#"{"metric": "tokens", "seq": 1, "delta": -2, "key": null}"#))

    plugin.shutdown()
    #expect(plugin.status().state == .stopped)
    #expect(throws: AuthorityError.self) { try authority.read() }
  }

  @Test("a burst of reports arrives in order, the last ones written when the plugin is shut down")
  func reportBurst() throws {
    let fixture = try ExecFixture()
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let plugin = try fixture.plugin(arguments: [], environment: ["FIXTURE_REPORTS": reports.path])
    let authority = try #require(try plugin.metrics(options: .null).first?.authority)
    for delta in 1...200 { _ = authority.report(ReportedChange(seq: UInt64(delta), delta: Int64(delta), key: nil)) }
    plugin.shutdown()
    let lines = try ExecFixture.waitForLines(in: reports, count: 200)
    #expect(lines == (1...200).map { #"{"metric": "widgets", "seq": \#($0), "delta": \#($0), "key": null}"# })
  }

  @Test("new options that would change the metrics are refused; the metrics are fixed for the session")
  func metricsAreFixed() throws {
    let fixture = try ExecFixture()
    let plugin = try fixture.plugin(arguments: [])
    defer { plugin.shutdown() }
    #expect(try plugin.metrics(options: .null).map(\.descriptor.name) == ["widgets"])
    do {
      _ = try plugin.metrics(options: .object(["metrics": .array([.string("gadgets")])]))
      Issue.record("the change should have been refused")
    } catch {
      guard case .invalidField(let field, let reason) = error else { throw error }
      #expect(field == "config.plugins.fixture")
      #expect(reason.hasPrefix("would change the plugin's metrics from widgets to gadgets"))
    }
  }

  @Test("an error answer to a read is passed on with its retryAfterMs, and the plugin keeps running")
  func refusedRead() throws {
    let fixture = try ExecFixture()
    let plugin = try fixture.plugin(arguments: ["--metric", "busy", "--metric", "calm", "--refuse-fetch", "busy"])
    defer { plugin.shutdown() }
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    do {
      _ = try authorities[0].read()
      Issue.record("the read should have been refused")
    } catch {
      #expect(error.message == "exec plugin fixture: the billing service is busy")
      #expect(error.retryAfterMilliseconds == 1500)
    }
    #expect(try authorities[1].read() == 7)
    #expect(plugin.status().state == .loaded)
  }

  @Test("a read the program does not answer fails within the timeout, and the program is restarted")
  func hungRead() throws {
    let fixture = try ExecFixture()
    let plugin = try fixture.plugin(
      arguments: ["--metric", "slow", "--metric", "quick", "--hang-fetch", "slow"], timeoutMs: 3_000,
      restartBaseMs: 50, restartCapMs: 100)
    defer { plugin.shutdown() }
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    let started = Date()
    do {
      _ = try authorities[0].read()
      Issue.record("the read should have timed out")
    } catch {
      #expect(error.message == "exec plugin fixture did not answer metric/fetch within 3000 ms")
    }
    let elapsed = Date().timeIntervalSince(started)
    // The timeout is long enough for a program to start on a loaded machine.
    // Not before the timeout; the upper bound only tells the timeout from a hang.
    #expect(elapsed >= 2.99 && elapsed < 15, "took \(elapsed) s")
    #expect(plugin.status().lastError == "did not answer metric/fetch within 3000 ms")
    try ExecFixture.waitUntil(seconds: 30) { plugin.status().state == .loaded }
    #expect(try authorities[1].read() == 7)
  }

  @Test("a program that crashes is restarted; meanwhile reads fail at once and reports are held")
  func crashAndRestart() throws {
    let fixture = try ExecFixture()
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let marker = fixture.directory.appendingPathComponent("first-run")
    let plugin = try fixture.plugin(
      arguments: [
        "--metric", "boom", "--metric", "widgets", "--crash-fetch", "boom", "--marker", marker.path,
        "--restart-delay-ms", "2000",
      ],
      environment: ["FIXTURE_REPORTS": reports.path], timeoutMs: 20_000, restartBaseMs: 50, restartCapMs: 100)
    defer { plugin.shutdown() }
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    do {
      _ = try authorities[0].read()
      Issue.record("the read should have failed")
    } catch {
      #expect(error.message == "exec plugin fixture exited with status 7 before answering metric/fetch")
    }
    // Down: the restarted program waits 2 s before describing itself (well within its 20 s timeout, even on a loaded
    // machine); meanwhile a read fails without waiting for anything.
    let started = Date()
    do {
      _ = try authorities[1].read()
      Issue.record("the read should have failed while the plugin restarts")
    } catch {
      #expect(error.message.hasPrefix("exec plugin fixture is restarting (last error: exited with status 7"))
    }
    #expect(Date().timeIntervalSince(started) < 2.5)
    let status = plugin.status()
    #expect(status.state == .restarting)
    #expect(status.lastError == "exited with status 7 before answering metric/fetch")
    _ = authorities[1].report(ReportedChange(seq: 1, delta: 3, key: nil))

    try ExecFixture.waitUntil(seconds: 30) { plugin.status().state == .loaded }
    #expect(try authorities[1].read() == 7)
    #expect(plugin.status().lastError == "exited with status 7 before answering metric/fetch")
    // The report held while the program was down arrives once it is back.
    let held = try ExecFixture.waitForLines(in: reports, count: 1)
    #expect(held == [#"{"metric": "widgets", "seq": 1, "delta": 3, "key": null}"#])
  }

  @Test(
    "a first start that fails fails the plugin with the reason, and nothing is retried",
    arguments: [
      (["--mode", "crash-at-start"], "exited with status 3 before answering plugin/describe"),
      (["--mode", "garbage"], "wrote a line that is not JSON"),
      (["--mode", "wrong-id"], "answered id 1001, which usagectx is not waiting for"),
      (["--mode", "long-line"], "wrote a line longer than 1048576 bytes"),
      (["--mode", "hang"], "did not answer plugin/describe within 300 ms"),
      (["--name", "other"], "result.name is other, but the manifest names the plugin fixture"),
    ])
  func failedStart(arguments: [String], expected: String) throws {
    let fixture = try ExecFixture()
    // Only the hanging program waits for the timeout; the others get a long one, so a program slow to start on a
    // loaded machine still fails for its own reason.
    let hangs = arguments.contains("hang")
    let plugin = try fixture.plugin(arguments: arguments, timeoutMs: hangs ? 300 : 10_000)
    let started = Date()
    #expect(throws: UsageError.self) { try plugin.metrics(options: .null) }
    // Failed by its own 300 ms deadline, not by the 10 s one (generous bound: the machine may be loaded).
    if hangs { #expect(Date().timeIntervalSince(started) < 8) }
    let status = plugin.status()
    #expect(status.state == .failed)
    #expect(status.lastError?.contains(expected) == true, "\(status.lastError ?? "no error")")
    Thread.sleep(forTimeInterval: 0.1)
    #expect(plugin.status().state == .failed)
    plugin.shutdown()
  }

  @Test("options the program refuses are an error naming the setting")
  func refusedOptions() throws {
    let fixture = try ExecFixture()
    let plugin = try fixture.plugin(arguments: [])
    defer { plugin.shutdown() }
    #expect(throws: UsageError.invalidField(field: "config.plugins.fixture.refuse", reason: "is not accepted")) {
      try plugin.metrics(options: .object(["refuse": .bool(true)]))
    }
    #expect(plugin.status().state == .failed)

    // While running, a refusal keeps the program and its previous options.
    let running = try fixture.plugin(arguments: [])
    defer { running.shutdown() }
    let authority = try #require(try running.metrics(options: .null).first?.authority)
    #expect(throws: UsageError.invalidField(field: "config.plugins.fixture.refuse", reason: "is not accepted")) {
      try running.metrics(options: .object(["refuse": .bool(true)]))
    }
    #expect(running.status().state == .loaded)
    #expect(try authority.read() == 7)
  }

  @Test("shutdown closes stdin, then sends SIGTERM to a program that does not exit, and reaps it")
  func shutdownEscalates() throws {
    let fixture = try ExecFixture()
    let polite = try fixture.plugin(arguments: [])
    _ = try polite.metrics(options: .null)
    var started = Date()
    polite.shutdown()
    // It exits on its own when its stdin closes, well before the 1 s grace and SIGTERM (generous bound under load).
    #expect(Date().timeIntervalSince(started) < 1.0)

    let stubborn = try fixture.plugin(arguments: ["--mode", "ignore-stdin-eof"])
    _ = try stubborn.metrics(options: .null)
    started = Date()
    stubborn.shutdown()
    let elapsed = Date().timeIntervalSince(started)
    // At least the 1 s grace before SIGTERM; the upper bound only catches a hang (the next step would be SIGKILL).
    #expect(elapsed >= 0.9 && elapsed < 10, "took \(elapsed) s")
    #expect(stubborn.status().state == .stopped)
  }

  @Test("manifests: defaults, command resolution, and every malformation named with the file")
  func manifests() throws {
    let fixture = try ExecFixture()
    let script = fixture.directory.appendingPathComponent("tool.py")
    try FileManager.default.copyItem(atPath: ExecFixture.script, toPath: script.path)
    func load(_ text: String, file: String = "billing.plugin.json", path: String? = "/usr/bin:/bin")
      -> Result<ExecManifest, ExecManifest.LoadError>
    {
      let url = fixture.directory.appendingPathComponent(file)
      try? Data(text.utf8).write(to: url)
      return ExecManifest.load(path: url.path, searchPath: path)
    }
    let minimal = try load(#"{"command": "./tool.py"}"#).get()
    #expect(minimal.name == "billing")
    #expect(minimal.executable == script.path)
    #expect(minimal.directory == fixture.directory.path)
    #expect(minimal.timeoutMilliseconds == 5000)
    #expect(minimal.restartBaseMilliseconds == 1000)
    #expect(minimal.restartCapMilliseconds == 60000)
    #expect(minimal.options == nil)
    let full = try load(
      #"{"name": "money", "command": "sh", "args": ["-c", "x"], "env": {"K": "V"}, "timeoutMs": 300, "#
        + #""options": {"a": [1]}, "restartBaseMs": 10, "restartCapMs": 20}"#
    ).get()
    #expect(full.name == "money")
    #expect(full.executable == "/usr/bin/sh" || full.executable == "/bin/sh")
    #expect(full.arguments == ["-c", "x"])
    #expect(full.environment == ["K": "V"])
    #expect(full.options == .object(["a": .array([.number(1)])]))
    #expect(try load(#"{"command": "\#(script.path)"}"#).get().executable == script.path)

    func failure(_ text: String) -> String {
      switch load(text) {
      case .success: return "loaded"
      case .failure(let error): return error.message
      }
    }
    #expect(failure("{nope").hasPrefix("billing.plugin.json: not valid JSON"))
    #expect(failure("[]") == "billing.plugin.json: must be a JSON object, not array")
    #expect(failure(#"{"args": []}"#) == #"billing.plugin.json: "command" is missing"#)
    #expect(failure(#"{"command": 3}"#) == #"billing.plugin.json: "command" must be a non-empty string"#)
    #expect(failure(#"{"command": "sh", "colour": 1}"#).hasPrefix(#"billing.plugin.json: "colour" is not a manifest"#))
    #expect(failure(#"{"command": "sh", "args": "x"}"#) == #"billing.plugin.json: "args" must be an array of strings"#)
    #expect(failure(#"{"command": "sh", "env": {"K": 1}}"#) == #"billing.plugin.json: "env.K" must be a string"#)
    #expect(failure(#"{"command": "sh", "timeoutMs": 0}"#).hasPrefix(#"billing.plugin.json: "timeoutMs" must be"#))
    #expect(
      failure(#"{"command": "sh", "restartBaseMs": 50, "restartCapMs": 10}"#)
        == #"billing.plugin.json: "restartCapMs" must not be less than "restartBaseMs""#)
    #expect(failure(#"{"command": "no-such-program-usagectx"}"#).hasSuffix("was not found on PATH"))
    #expect(failure(#"{"command": "./missing.py"}"#).contains("/missing.py does not exist"))
    #expect(ExecManifest.isManifest("billing.plugin.json", explicit: true))
    #expect(!ExecManifest.isManifest("billing.plugin.json", explicit: false))
    #expect(!ExecManifest.isManifest(".plugin.json", explicit: true))
  }

  // MARK: - Report outcomes

  @Test("an acknowledged report is accepted, told once with its metric and seq, outside the plugin's lock")
  func acceptedReports() throws {
    let fixture = try ExecFixture()
    try fixture.manifest(arguments: ["--name", "billing", "--metric", "seats", "--source", "tokens"], name: "billing")
    let catalog = PluginCatalog.load(
      searchPath: PluginSearchPath(entries: [.init(path: fixture.directory.path, explicit: true)]),
      configuration: UsageConfiguration(), logger: Logger(label: "exec-tests"))
    defer { catalog.shutdown() }
    let plugin = try #require(catalog.loadedExecPlugins.first)
    // The observer takes the plugin's lock (through its status): it must not be called while the plugin holds it.
    let outcomes = ReportOutcomes(also: { [weak plugin] in _ = plugin?.status() })
    catalog.observeReports(outcomes.observer)
    let seats = try #require(try plugin.metrics(options: .null).first?.authority)
    // No loaded plugin provides tokens, so the catalog does not list the source; the plugin still offers it.
    let tokens = try #require(plugin.sourceAuthorities()["tokens"])

    #expect(seats.report(ReportedChange(seq: 1, delta: 2, key: "order-17")) == .pending)
    #expect(tokens.report(ReportedChange(seq: 1, delta: 1500)) == .pending)
    #expect(seats.report(ReportedChange(seq: 2, delta: -1)) == .pending)
    let told = try outcomes.wait(count: 3)
    #expect(
      Set(told.map(\.description))
        == ["seats#1: accepted", "tokens#1: accepted", "seats#2: accepted"])
    // In order per metric, as sent.
    #expect(told.filter { $0.metric == "seats" }.map(\.seq) == [1, 2])
    catalog.shutdown()
    #expect(outcomes.all.count == 3)
  }

  @Test(
    "an error answer to a report is transient unless it says otherwise: data.retry, or a code saying the request was wrong",
    arguments: [
      ([], ReportOutcome.retry("the billing service refused the change to widgets", afterMilliseconds: nil)),
      (
        ["--report-retry-after-ms", "750"],
        .retry("the billing service refused the change to widgets", afterMilliseconds: 750)
      ),
      (
        ["--report-error-retry", "true", "--report-error-code", "-32602"],
        .retry("the billing service refused the change to widgets", afterMilliseconds: nil)
      ),
      (["--report-error-retry", "false"], .refused("the billing service refused the change to widgets")),
      (["--report-error-code", "-32602"], .refused("the billing service refused the change to widgets")),
      (["--report-error-code", "-32600"], .refused("the billing service refused the change to widgets")),
      (
        ["--report-error-code", "-32603"],
        .retry("the billing service refused the change to widgets", afterMilliseconds: nil)
      ),
    ] as [([String], ReportOutcome)])
  func reportErrors(arguments: [String], expected: ReportOutcome) throws {
    let fixture = try ExecFixture()
    let plugin = try fixture.plugin(arguments: ["--refuse-reports"] + arguments)
    defer { plugin.shutdown() }
    let outcomes = ReportOutcomes()
    plugin.onReportOutcome(outcomes.observer)
    let authority = try #require(try plugin.metrics(options: .null).first?.authority)
    #expect(authority.report(ReportedChange(seq: 1, delta: 4, key: "k1")) == .pending)
    let told = try outcomes.wait(count: 1)
    #expect(told == [.init(metric: "widgets", seq: 1, outcome: expected)])
    // The plugin keeps serving.
    #expect(try authority.read() == 7)
    #expect(plugin.status().state == .loaded)
  }

  @Test("a report made while the plugin is stopped or failed is lost at once; one held when it stops is lost too")
  func lostWhenDown() throws {
    let fixture = try ExecFixture()

    // Stopped: told before report returns.
    let stopped = try fixture.plugin(arguments: [])
    let stoppedOutcomes = ReportOutcomes()
    stopped.onReportOutcome(stoppedOutcomes.observer)
    let authority = try #require(try stopped.metrics(options: .null).first?.authority)
    stopped.shutdown()
    #expect(authority.report(ReportedChange(seq: 1, delta: 1)) == .pending)
    #expect(stoppedOutcomes.all == [.init(metric: "widgets", seq: 1, outcome: .lost("exec plugin fixture is stopped"))])

    // Failed to start: held reports (made before the start) and later ones are lost.
    let failed = try fixture.plugin(arguments: ["--mode", "crash-at-start"])
    let failedOutcomes = ReportOutcomes()
    failed.onReportOutcome(failedOutcomes.observer)
    let early = ExecAuthority(metric: "widgets", connection: failed.connection)
    #expect(early.report(ReportedChange(seq: 1, delta: 1)) == .pending)
    #expect(failedOutcomes.all.isEmpty)
    #expect(throws: UsageError.self) { try failed.metrics(options: .null) }
    #expect(early.report(ReportedChange(seq: 2, delta: 1)) == .pending)
    // How the start failed is told by the plugin's status; here it is enough that both were lost because of it.
    // The held report is lost by the failed start and the later one by the report itself, on two threads: which
    // outcome is told first is not promised (each is settled by its own sequence number).
    let lost = try failedOutcomes.wait(count: 2)
    #expect(lost.map(\.seq).sorted() == [1, 2])
    for told in lost {
      guard case .lost(let reason) = told.outcome else {
        Issue.record("\(told) should be lost")
        continue
      }
      #expect(reason.hasPrefix("exec plugin fixture failed to start"), "\(reason)")
    }
    failed.shutdown()

    // Never started: a held report is lost when the plugin is shut down.
    let idle = try fixture.plugin(arguments: [])
    let idleOutcomes = ReportOutcomes()
    idle.onReportOutcome(idleOutcomes.observer)
    #expect(
      ExecAuthority(metric: "widgets", connection: idle.connection).report(ReportedChange(seq: 1, delta: 1)) == .pending
    )
    idle.shutdown()
    #expect(
      idleOutcomes.all == [
        .init(metric: "widgets", seq: 1, outcome: .lost("exec plugin fixture was stopped before the report was sent"))
      ])
    #expect(failedOutcomes.all.count == 2)
  }

  @Test("a report in flight when the program fails is lost, not sent again")
  func lostInFlight() throws {
    let fixture = try ExecFixture()
    let fetches = fixture.directory.appendingPathComponent("fetches.jsonl")
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let plugin = try fixture.plugin(
      arguments: ["--fetch-delay-ms", "8000"],
      environment: ["FIXTURE_FETCHES": fetches.path, "FIXTURE_REPORTS": reports.path],
      timeoutMs: 2000, restartBaseMs: 20, restartCapMs: 40)
    defer { plugin.shutdown() }
    let outcomes = ReportOutcomes()
    plugin.onReportOutcome(outcomes.observer)
    let authority = try #require(try plugin.metrics(options: .null).first?.authority)
    // A read the program is slow to answer (8 s against a 2 s timeout: generous either way on a loaded machine); the
    // report is sent behind it and misses the program's end.
    let reading = DispatchGroup()
    DispatchQueue.global().async(group: reading) { _ = try? authority.read() }
    _ = try ExecFixture.waitForLines(in: fetches, count: 1)
    #expect(authority.report(ReportedChange(seq: 1, delta: 3)) == .pending)
    let told = try outcomes.wait(count: 1, seconds: 30)
    // The fetch's deadline passes first; on a loaded machine the loop may notice the report's at the same look, so
    // the reason names either request. What matters: the report is lost, once, and never sent again.
    #expect(told.count == 1)
    #expect(told.first?.metric == "widgets" && told.first?.seq == 1)
    guard case .lost(let reason) = told.first?.outcome else {
      Issue.record("the report should be lost: \(told)")
      return
    }
    #expect(
      reason == "exec plugin fixture failed before acknowledging the report: did not answer metric/fetch within 2000 ms"
        || reason
          == "exec plugin fixture failed before acknowledging the report: did not answer metric/report within 2000 ms",
      "\(reason)")
    #expect(reading.wait(timeout: .now() + 30) == .success)
    try ExecFixture.waitUntil(seconds: 30) { plugin.status().state == .loaded }
    plugin.shutdown()
    #expect(outcomes.all.count == 1)
    #expect(ExecFixture.lines(of: reports).isEmpty)
  }

  @Test("many reports get as many outcomes, each seq once, whether acknowledged or cut short by shutdown")
  func outcomesAreNotDuplicated() throws {
    let fixture = try ExecFixture()
    for waitForAnswers in [true, false] {
      let plugin = try fixture.plugin(arguments: [])
      let outcomes = ReportOutcomes()
      plugin.onReportOutcome(outcomes.observer)
      let authority = try #require(try plugin.metrics(options: .null).first?.authority)
      for seq in 1...200 { _ = authority.report(ReportedChange(seq: UInt64(seq), delta: 1)) }
      if waitForAnswers {
        let told = try outcomes.wait(count: 200)
        #expect(told.allSatisfy { $0.outcome == .accepted })
      }
      plugin.shutdown()
      // Once the plugin is stopped, every outcome has been told.
      let told = outcomes.all
      #expect(told.count == 200, "\(told.count) outcomes")
      #expect(told.map(\.seq).sorted() == (1...200).map(UInt64.init))
      #expect(told.map(\.seq) == (1...200).map(UInt64.init), "told in the order reported")
      for entry in told where entry.outcome != .accepted {
        #expect(entry.outcome == .lost("exec plugin fixture was stopped before acknowledging the report"))
      }
    }
  }

  @Test("reports held while the plugin restarts are all kept, however many, and sent once it is back")
  func heldReportsAreKept() throws {
    let fixture = try ExecFixture()
    let marker = fixture.directory.appendingPathComponent("first-run")
    let plugin = try fixture.plugin(
      arguments: [
        "--metric", "boom", "--metric", "widgets", "--crash-fetch", "boom", "--marker", marker.path,
        "--restart-delay-ms", "300",
      ],
      restartBaseMs: 20, restartCapMs: 40)
    defer { plugin.shutdown() }
    let outcomes = ReportOutcomes()
    plugin.onReportOutcome(outcomes.observer)
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    #expect(throws: AuthorityError.self) { try authorities[0].read() }
    #expect(plugin.status().state == .restarting)
    let count = 10_005
    for seq in 1...count { _ = authorities[1].report(ReportedChange(seq: UInt64(seq), delta: 1)) }
    let told = try outcomes.wait(count: count, seconds: 120)
    #expect(told.count == count)
    #expect(told.allSatisfy { $0.outcome == .accepted })
    #expect(told.map(\.seq) == (1...UInt64(count)).map { $0 })
  }

  @Test("version 2: the plugin gets each change's labels, fields and cost in batches and answers each change")
  func versionTwoReports() throws {
    let fixture = try ExecFixture()
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let batches = fixture.directory.appendingPathComponent("batches.txt")
    let plugin = try fixture.plugin(
      arguments: ["--protocol-version", "2"],
      environment: ["FIXTURE_REPORTS": reports.path, "FIXTURE_BATCHES": batches.path])
    defer { plugin.shutdown() }
    let outcomes = ReportOutcomes()
    plugin.onReportOutcome(outcomes.observer)
    let authority = try #require(try plugin.metrics(options: .null).first?.authority)
    #expect(plugin.connection.state.withLock { $0.protocolVersion } == 2)
    let detail = ChangeDetail(fields: [1200, 350], cost: 0.0065, priced: true, events: 1)
    _ = authority.report(
      ReportedChange(
        seq: 1, delta: 1550, key: "req-1", label: "gpt-4o", detail: detail,
        labels: ["model": "gpt-4o", "provider": "openai"], fieldNames: ["input", "output"]))
    let first = try ExecFixture.waitForLines(in: reports, count: 1)
    let change = try #require(
      try JSONSerialization.jsonObject(with: Data(first[0].utf8)) as? [String: Any])
    #expect(change["metric"] as? String == "widgets")
    #expect(change["seq"] as? Int == 1)
    #expect(change["delta"] as? Int == 1550)
    #expect(change["key"] as? String == "req-1")
    #expect(change["labels"] as? [String: String] == ["model": "gpt-4o", "provider": "openai"])
    #expect(change["fields"] as? [String: Int] == ["input": 1200, "output": 350])
    #expect(change["cost"] as? Double == 0.0065)
    #expect(try outcomes.wait(count: 1).map(\.outcome) == [.accepted])

    // Many at once: sent in batches, each change answered on its own (a refused one among accepted ones).
    let count = 2_000
    for seq in 2...count {
      _ = authority.report(
        ReportedChange(seq: UInt64(seq), delta: 1, key: seq % 500 == 0 ? "refuse:\(seq)" : "k\(seq)"))
    }
    let told = try outcomes.wait(count: count, seconds: 60)
    #expect(told.count == count)
    #expect(told.map(\.seq).sorted() == (1...UInt64(count)).map { $0 })
    for entry in told {
      if entry.seq % 500 == 0 {
        #expect(entry.outcome == .refused("change refuse:\(entry.seq) is refused"))
      } else {
        #expect(entry.outcome == .accepted)
      }
    }
    let sizes = ExecFixture.lines(of: batches).compactMap { Int($0) }
    #expect(sizes.reduce(0, +) == count)
    #expect(sizes.allSatisfy { $0 >= 1 && $0 <= 256 })
    // Fewer requests than changes: the ones waiting behind a full window went together.
    #expect(sizes.count < count)
  }

  @Test("a version-1 program (no protocolVersion in its description) gets version-1 reports, without labels")
  func versionOneStays() throws {
    let fixture = try ExecFixture()
    let reports = fixture.directory.appendingPathComponent("reports.jsonl")
    let plugin = try fixture.plugin(arguments: [], environment: ["FIXTURE_REPORTS": reports.path])
    defer { plugin.shutdown() }
    let authority = try #require(try plugin.metrics(options: .null).first?.authority)
    #expect(plugin.connection.state.withLock { $0.protocolVersion } == 1)
    _ = authority.report(ReportedChange(seq: 1, delta: 3, key: "a", labels: ["model": "gpt-4o"]))
    #expect(
      try ExecFixture.waitForLines(in: reports, count: 1) == [
        #"{"metric": "widgets", "seq": 1, "delta": 3, "key": "a"}"#
      ])
  }

  // MARK: - The fixture as a small authority

  @Test("fixture --state: reports change the next fetch, and rewriting the file is another device writing")
  func fixtureState() throws {
    let fixture = try ExecFixture()
    let state = fixture.directory.appendingPathComponent("state.json")
    try ExecFixture.replace(state, with: #"{"seats": 10}"#)
    let plugin = try fixture.plugin(arguments: ["--metric", "seats", "--metric", "widgets", "--state", state.path])
    defer { plugin.shutdown() }
    let outcomes = ReportOutcomes()
    plugin.onReportOutcome(outcomes.observer)
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    #expect(try authorities[0].read() == 10)
    // A metric missing from the file has --value.
    #expect(try authorities[1].read() == 7)

    _ = authorities[0].report(ReportedChange(seq: 1, delta: 5))
    _ = authorities[1].report(ReportedChange(seq: 1, delta: -2))
    #expect(try outcomes.wait(count: 2).allSatisfy { $0.outcome == .accepted })
    #expect(try authorities[0].read() == 15)
    #expect(try authorities[1].read() == 5)
    let written = try JSONSerialization.jsonObject(with: Data(contentsOf: state)) as? [String: Int]
    #expect(written == ["seats": 15, "widgets": 5])

    try ExecFixture.replace(state, with: #"{"seats": 40, "widgets": 5}"#)
    #expect(try authorities[0].read() == 40)
    // Below zero is kept in the file but read as 0.
    _ = authorities[1].report(ReportedChange(seq: 2, delta: -8))
    #expect(try outcomes.wait(count: 3).last?.outcome == .accepted)
    #expect(try authorities[1].read() == 0)
    _ = authorities[1].report(ReportedChange(seq: 3, delta: 4))
    _ = try outcomes.wait(count: 4)
    #expect(try authorities[1].read() == 1)
  }

  @Test("fixture --lose-reports acknowledges reports without applying them; --refuse-reports applies nothing either")
  func fixtureLosesReports() throws {
    let fixture = try ExecFixture()
    for (flag, outcome) in [
      ("--lose-reports", ReportOutcome.accepted),
      ("--refuse-reports", .retry("the billing service refused the change to widgets", afterMilliseconds: nil)),
    ] {
      let state = fixture.directory.appendingPathComponent("state\(flag).json")
      try ExecFixture.replace(state, with: #"{"widgets": 3}"#)
      let plugin = try fixture.plugin(arguments: ["--state", state.path, flag])
      defer { plugin.shutdown() }
      let outcomes = ReportOutcomes()
      plugin.onReportOutcome(outcomes.observer)
      let authority = try #require(try plugin.metrics(options: .null).first?.authority)
      _ = authority.report(ReportedChange(seq: 1, delta: 5))
      #expect(try outcomes.wait(count: 1).map(\.outcome) == [outcome])
      #expect(try authority.read() == 3)
    }
  }

  @Test("fixture --down-file: reads are refused while the file exists, with retryAfterMs when asked")
  func fixtureDownFile() throws {
    let fixture = try ExecFixture()
    let down = fixture.directory.appendingPathComponent("down")
    for retryAfter in [250, nil] as [Int64?] {
      let plugin = try fixture.plugin(
        arguments: ["--down-file", down.path] + (retryAfter.map { ["--down-retry-after-ms", "\($0)"] } ?? []))
      defer { plugin.shutdown() }
      let authority = try #require(try plugin.metrics(options: .null).first?.authority)
      #expect(try authority.read() == 7)
      try ExecFixture.replace(down, with: "")
      do {
        _ = try authority.read()
        Issue.record("the read should have been refused")
      } catch {
        #expect(error.message == "exec plugin fixture: the source is down")
        #expect(error.retryAfterMilliseconds == retryAfter)
      }
      #expect(plugin.status().state == .loaded)
      try FileManager.default.removeItem(at: down)
      #expect(try authority.read() == 7)
    }
  }

  @Test("fixture FIXTURE_FETCHES counts fetches, and --fetch-delay-ms delays their answers")
  func fixtureFetches() throws {
    let fixture = try ExecFixture()
    let fetches = fixture.directory.appendingPathComponent("fetches.jsonl")
    let plugin = try fixture.plugin(
      arguments: ["--metric", "seats", "--metric", "widgets", "--fetch-delay-ms", "200"],
      environment: ["FIXTURE_FETCHES": fetches.path])
    defer { plugin.shutdown() }
    let authorities = try plugin.metrics(options: .null).compactMap(\.authority)
    #expect(ExecFixture.lines(of: fetches).isEmpty)
    let started = Date()
    #expect(try authorities[0].read() == 7)
    #expect(Date().timeIntervalSince(started) >= 0.19)
    #expect(try authorities[1].read() == 7)
    #expect(try authorities[0].read() == 7)
    let lines = ExecFixture.lines(of: fetches)
    let entries = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    #expect(entries.compactMap { $0["metric"] as? String } == ["seats", "widgets", "seats"])
    let times = entries.compactMap { ($0["time"] as? NSNumber)?.int64Value }
    #expect(times.count == 3)
    #expect(times == times.sorted())
    // Each fetch arrives after the previous one's delayed answer.
    #expect(zip(times, times.dropFirst()).allSatisfy { $1 - $0 >= 190 })
    // The same clock as usagectx's deadlines (CLOCK_MONOTONIC).
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    let nowMilliseconds = Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    #expect(times.last.map { $0 <= nowMilliseconds && nowMilliseconds - $0 < 5_000 } == true)
  }
}

/// A temporary plugin directory and manifests running the fixture program.
struct ExecFixture {
  /// The fixture program.
  static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/plugins/exec/fixture.py").path

  let directory: URL

  init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent("usagectx-exec-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  /// Writes a manifest running the fixture with `arguments` and loads it as a plugin.
  func plugin(
    arguments: [String], name: String = "fixture", environment: [String: String] = [:], options: String? = nil,
    timeoutMs: Int = 3000, restartBaseMs: Int = 100, restartCapMs: Int = 200
  ) throws -> ExecPlugin {
    let url = try manifest(
      arguments: arguments, name: name, environment: environment, options: options, timeoutMs: timeoutMs,
      restartBaseMs: restartBaseMs, restartCapMs: restartCapMs)
    return try ExecPlugin.load(manifest: url.path, logger: Logger(label: "exec-tests")).get()
  }

  /// Writes a manifest running the fixture with `arguments` into the directory; returns its location.
  @discardableResult
  func manifest(
    arguments: [String], name: String = "fixture", environment: [String: String] = [:], options: String? = nil,
    timeoutMs: Int = 3000, restartBaseMs: Int = 100, restartCapMs: Int = 200
  ) throws -> URL {
    var manifest: [String: Any] = [
      "name": name, "command": Self.script, "args": arguments, "env": environment, "timeoutMs": timeoutMs,
      "restartBaseMs": restartBaseMs, "restartCapMs": restartCapMs,
    ]
    if let options { manifest["options"] = try JSONSerialization.jsonObject(with: Data(options.utf8)) }
    let url = directory.appendingPathComponent("\(UUID().uuidString).plugin.json")
    try JSONSerialization.data(withJSONObject: manifest).write(to: url)
    return url
  }

  /// Waits (up to `seconds`) until `condition` holds.
  static func waitUntil(
    seconds: Double = 5, _ condition: () -> Bool, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let deadline = Date().addingTimeInterval(seconds)
    while !condition() {
      guard Date() < deadline else {
        Issue.record("condition not met within \(seconds) s", sourceLocation: sourceLocation)
        return
      }
      Thread.sleep(forTimeInterval: 0.02)
    }
  }

  /// The lines of `file` once it has at least `count` (waiting up to 5 s).
  static func waitForLines(
    in file: URL, count: Int, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> [String] {
    var lines: [String] = []
    try waitUntil(
      {
        lines = Self.lines(of: file)
        return lines.count >= count
      }, sourceLocation: sourceLocation)
    return lines
  }

  /// The lines of `file` now (none when it does not exist).
  static func lines(of file: URL) -> [String] {
    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map(String.init)
  }

  /// Replaces `file` with `text` at once (written beside it and renamed), as the fixture's `--state` expects.
  static func replace(_ file: URL, with text: String) throws {
    try Data(text.utf8).write(to: file, options: .atomic)
  }
}

/// The outcomes a report observer was told, in the order they came.
final class ReportOutcomes: Sendable {
  struct Entry: Equatable, Sendable, CustomStringConvertible {
    var metric: String
    var seq: UInt64
    var outcome: ReportOutcome

    var description: String { "\(metric)#\(seq): \(outcome)" }
  }

  private let entries = Mutex<[Entry]>([])
  /// Called in the observer before the outcome is recorded (for example to take other locks).
  private let also: (@Sendable () -> Void)?

  init(also: (@Sendable () -> Void)? = nil) {
    self.also = also
  }

  /// The observer to install.
  var observer: @Sendable (String, UInt64, ReportOutcome) -> Void {
    { [self] metric, seq, outcome in
      also?()
      entries.withLock { $0.append(Entry(metric: metric, seq: seq, outcome: outcome)) }
    }
  }

  var all: [Entry] { entries.withLock { $0 } }

  /// The outcomes once there are at least `count` (waiting up to `seconds`).
  func wait(
    count: Int, seconds: Double = 10, sourceLocation: SourceLocation = #_sourceLocation
  ) throws -> [Entry] {
    try ExecFixture.waitUntil(seconds: seconds, { all.count >= count }, sourceLocation: sourceLocation)
    return all
  }
}
