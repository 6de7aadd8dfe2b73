// bench-ledger-fill: writes a large ledger for the benchmark through the ledger's own code.
//
//   bench-ledger-fill STATE_DIR COUNT SEED [--batch N] [--days N]
//
// Opens (creating) the ledger in STATE_DIR and records COUNT changes with `DurableLedger`, committing every `--batch`
// changes (default 1,000), their timestamps spread in time order over the last `--days` days (default 365) up to now.
// A change is to `documents` (mostly +1, sometimes -1), `requests` (+1) or `tokens` (input and output tokens of one of
// a few models, as the breakdown label, with their fields and cost); about one in ten carries an idempotency-style key
// and so gets a row of the change log of its own. The ledger is then opened again, as a session would.
//
// Progress goes to stderr; one line of JSON goes to stdout: the changes and commits written, the seconds taken, the
// all-time total per metric, how long opening the filled ledger took and how many counter rows it read, and the
// models (labels) of the token changes.
import Glibc
import Ledger
import UsageCore

/// A model that token changes are counted towards, with its prices per million tokens and how often it is used.
struct Model {
  var name: String
  var input: Double
  var output: Double
  var weight: Int
}

let models = [
  Model(name: "claude-sonnet-4-5", input: 3.00, output: 15.00, weight: 5),
  Model(name: "gpt-4o-mini", input: 0.15, output: 0.60, weight: 3),
  Model(name: "gpt-5", input: 1.25, output: 10.00, weight: 2),
  Model(name: "claude-haiku-4-5", input: 1.00, output: 5.00, weight: 2),
]

/// SplitMix64: a small, seeded random source, so a seed always gives the same ledger.
struct SeededRandom {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A number in 0..<bound.
  mutating func below(_ bound: UInt64) -> UInt64 { next() % bound }

  /// A number spread evenly on a log scale between `low` and `high`.
  mutating func logUniform(_ low: Double, _ high: Double) -> Int64 {
    let unit = Double(next() >> 11) / Double(UInt64(1) << 53)
    return Int64((low * exp(unit * log(high / low))).rounded())
  }
}

struct Options {
  var directory: String
  var count: Int
  var seed: UInt64
  var batch = 1_000
  var days = 365
}

func fail(_ message: String) -> Never {
  printError("bench-ledger-fill: \(message)")
  exit(2)
}

func printError(_ text: String) {
  let line = text + "\n"
  _ = line.utf8CString.withUnsafeBufferPointer { write(2, $0.baseAddress, $0.count - 1) }
}

func parseOptions(_ arguments: [String]) -> Options {
  let usage = "usage: bench-ledger-fill STATE_DIR COUNT SEED [--batch N] [--days N]"
  var positional: [String] = []
  var named: [String: Int] = [:]
  var index = 0
  while index < arguments.count {
    let argument = arguments[index]
    if argument == "--batch" || argument == "--days" {
      guard index + 1 < arguments.count, let value = Int(arguments[index + 1]), value > 0 else { fail(usage) }
      named[argument] = value
      index += 2
    } else {
      positional.append(argument)
      index += 1
    }
  }
  guard positional.count == 3, let count = Int(positional[1]), count >= 0, let seed = UInt64(positional[2]) else {
    fail(usage)
  }
  var options = Options(directory: positional[0], count: count, seed: seed)
  options.batch = named["--batch"] ?? options.batch
  options.days = named["--days"] ?? options.days
  return options
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
  var spec = timespec()
  clock_gettime(CLOCK_MONOTONIC, &spec)
  return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// The `index`-th change of the fill, made at `time`.
func makeChange(_ index: Int, at time: Timestamp, seed: UInt64, random: inout SeededRandom) -> RecordedChange {
  let key = random.below(10) == 0 ? "fill-\(seed)-\(index)" : nil
  let kind = random.below(100)
  if kind < 25 {
    let delta: Int64 = random.below(10) == 0 ? -1 : 1
    return RecordedChange(metric: "documents", delta: delta, at: time, key: key)
  }
  if kind < 60 {
    return RecordedChange(metric: "requests", delta: 1, at: time, key: key)
  }
  let model = pickModel(&random)
  let input = random.logUniform(200, 20_000)
  let output = random.logUniform(20, 4_000)
  let cost = (Double(input) * model.input + Double(output) * model.output) / 1_000_000
  return RecordedChange(
    metric: "tokens", delta: input + output, at: time, key: key, label: model.name,
    detail: ChangeDetail(fields: [input, output], cost: cost, priced: true, events: 1))
}

func pickModel(_ random: inout SeededRandom) -> Model {
  let total = models.reduce(0) { $0 + $1.weight }
  var pick = Int(random.below(UInt64(total)))
  for model in models {
    if pick < model.weight { return model }
    pick -= model.weight
  }
  return models[0]
}

/// Records and commits every change; returns the commits made and the sum of the changes per metric.
func fill(_ ledger: DurableLedger, _ options: Options) -> (commits: Int, totals: [String: Int64]) {
  let now = SystemWallClock().now().milliseconds
  let span = Double(Int64(options.days) * 86_400_000)
  let start = now - Int64(span)
  var random = SeededRandom(state: options.seed)
  var totals: [String: Int64] = ["documents": 0, "requests": 0, "tokens": 0]
  var commits = 0
  var reported = 0
  for index in 0..<options.count {
    let offset = Int64(span * Double(index) / Double(max(options.count, 1)))
    let change = makeChange(index, at: Timestamp(milliseconds: start + offset), seed: options.seed, random: &random)
    ledger.record(change)
    totals[change.metric, default: 0] += change.delta
    if (index + 1) % options.batch == 0 || index + 1 == options.count {
      commitOrFail(ledger)
      commits += 1
    }
    let percent = (index + 1) * 10 / max(options.count, 1)
    if percent > reported {
      reported = percent
      printError("bench-ledger-fill: \(percent * 10) % (\(index + 1) changes, \(commits) commits)")
    }
  }
  return (commits, totals)
}

func commitOrFail(_ ledger: DurableLedger) {
  do throws(CommitError) {
    try ledger.commit()
  } catch {
    fail("commit failed: \(error)")
  }
}

func openLedger(_ directory: String) -> DurableLedger {
  do throws(LedgerError) {
    return try DurableLedger(store: try LedgerStore(directory: directory))
  } catch {
    fail("cannot open the ledger in \(directory): \(error)")
  }
}

func json(_ totals: [String: Int64]) -> String {
  "{" + totals.keys.sorted().map { "\"\($0)\":\(totals[$0] ?? 0)" }.joined(separator: ",") + "}"
}

func main() {
  let options = parseOptions(Array(CommandLine.arguments.dropFirst()))
  let began = monotonicSeconds()
  let (commits, totals) = fill(openLedger(options.directory), options)
  let filled = monotonicSeconds()
  // Opened again as a session opens it: the integrity check and the running totals.
  let reopened = openLedger(options.directory)
  let opened = monotonicSeconds()
  var stored: [String: Int64] = [:]
  for metric in totals.keys { stored[metric] = reopened.total(metric: metric, since: nil) }
  guard stored == totals else { fail("stored totals \(json(stored)) differ from those written \(json(totals))") }
  print(
    "{\"changes\":\(options.count),\"commits\":\(commits),\"seconds\":\(filled - began),\"totals\":\(json(totals)),"
      + "\"openSeconds\":\(opened - filled),\"rowsReadAtOpen\":\(reopened.rowsReadAtOpen),"
      + "\"labels\":[" + models.map { "\"\($0.name)\"" }.joined(separator: ",") + "]}")
}

main()
