import Glibc
import JSON
public import UsageCore

/// How to run an exec plugin: the manifest `NAME.plugin.json` in a plugin directory, as described in
/// `protocol/exec-plugins.md`.
///
/// ```json
/// {"name": "billing", "command": "./billing.py", "args": [], "env": {"K": "V"}, "timeoutMs": 5000, "options": {}}
/// ```
///
/// Only `command` is required. Reading is strict: a file that is not a JSON object, a missing command, a member of
/// the wrong type or an unknown member is refused with a message naming the file and the member.
public struct ExecManifest: Sendable, Equatable {
  /// The plugin's name: `name`, else the file name without `.plugin.json`.
  public var name: String
  /// The manifest file.
  public var path: String
  /// The manifest's directory: the base of a relative command, and the child's working directory.
  public var directory: String
  /// `command` as written.
  public var command: String
  /// The program that is run: `command` resolved to an absolute path (relative to ``directory`` when it holds a
  /// `/`, else looked up on `PATH`).
  public var executable: String
  /// `args`: the program's arguments, after its name.
  public var arguments: [String]
  /// `env`: variables set for the child on top of usagectx's own environment.
  public var environment: [String: String]
  /// `timeoutMs`: how long any request may take before the child is considered hung.
  public var timeoutMilliseconds: Int64
  /// `options`: the plugin's options when the configuration has no `plugins.NAME` section.
  public var options: ConfigValue?
  /// `restartBaseMs`: the first restart's largest delay; each further failure doubles it, up to the cap.
  public var restartBaseMilliseconds: Int64
  /// `restartCapMs`: the largest delay between restarts.
  public var restartCapMilliseconds: Int64
  /// `protocolVersion`: the highest protocol version offered in `plugin/describe` (the program answers with the one
  /// it speaks).
  public var protocolVersion: Int64 = ExecManifest.latestProtocolVersion
  /// The highest exec plugin protocol version usagectx speaks.
  public static let latestProtocolVersion: Int64 = 2

  /// The file name suffix of a manifest.
  public static let suffix = ".plugin.json"
  /// Largest manifest file read.
  static let maxFileBytes = 1 << 20
  /// `timeoutMs` when the manifest has none.
  public static let defaultTimeout: Int64 = 5_000
  /// `restartBaseMs` when the manifest has none.
  public static let defaultRestartBase: Int64 = 1_000
  /// `restartCapMs` when the manifest has none (or `restartBaseMs`, if that is larger).
  public static let defaultRestartCap: Int64 = 60_000
  /// Largest accepted timeout or restart delay: one hour.
  static let maxMilliseconds: Int64 = 3_600_000
  static let knownKeys = [
    "name", "command", "args", "env", "timeoutMs", "options", "restartBaseMs", "restartCapMs", "protocolVersion",
  ]

  public init(
    name: String, path: String, directory: String, command: String, executable: String, arguments: [String] = [],
    environment: [String: String] = [:], timeoutMilliseconds: Int64 = ExecManifest.defaultTimeout,
    options: ConfigValue? = nil, restartBaseMilliseconds: Int64 = ExecManifest.defaultRestartBase,
    restartCapMilliseconds: Int64 = ExecManifest.defaultRestartCap,
    protocolVersion: Int64 = ExecManifest.latestProtocolVersion
  ) {
    self.protocolVersion = protocolVersion
    self.name = name
    self.path = path
    self.directory = directory
    self.command = command
    self.executable = executable
    self.arguments = arguments
    self.environment = environment
    self.timeoutMilliseconds = timeoutMilliseconds
    self.options = options
    self.restartBaseMilliseconds = restartBaseMilliseconds
    self.restartCapMilliseconds = restartCapMilliseconds
  }

  /// Why a manifest was refused; the message starts with the manifest's file name.
  public struct LoadError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
  }

  /// `true` when `fileName` is a manifest's name in a directory of this kind: manifests are read only from
  /// directories someone named (`--plugins`, `USAGECTX_PLUGIN_PATH`).
  public static func isManifest(_ fileName: String, explicit: Bool) -> Bool {
    explicit && fileName.hasSuffix(suffix) && fileName.count > suffix.count
  }

  /// Reads and checks the manifest at `path`, resolving a bare command name against the environment's `PATH`.
  public static func load(path: String) -> Result<ExecManifest, LoadError> {
    load(path: path, searchPath: getenv("PATH").map { String(cString: $0) })
  }

  /// Reads and checks the manifest at `path`, resolving a bare command name against `searchPath`.
  public static func load(path: String, searchPath: String?) -> Result<ExecManifest, LoadError> {
    let absolute = absolutePath(path)
    let fileName = String(absolute.split(separator: "/").last ?? Substring(absolute))
    func fail(_ problem: String) -> Result<ExecManifest, LoadError> {
      .failure(LoadError(message: "\(fileName): \(problem)"))
    }
    let text: [UInt8]
    switch readFile(absolute) {
    case .success(let bytes): text = bytes
    case .failure(let error): return fail(error.message)
    }
    let document: JSONDocument
    do {
      document = try text.withUnsafeBytes { bytes throws(JSONParseError) in try JSONDocument.parse(bytes) }
    } catch {
      return fail("not valid JSON: \(error)")
    }
    let parsed = document.withRoot { root in
      parse(root, path: absolute, defaultName: String(fileName.dropLast(suffix.count)), searchPath: searchPath)
    }
    switch parsed {
    case .success(let manifest): return .success(manifest)
    case .failure(let error): return fail(error.message)
    }
  }

  private static func parse(
    _ root: JSONValue, path: String, defaultName: String, searchPath: String?
  ) -> Result<ExecManifest, LoadError> {
    func fail(_ problem: String) -> Result<ExecManifest, LoadError> { .failure(LoadError(message: problem)) }
    guard root.isObject else { return fail("must be a JSON object, not \(root.typeName)") }
    for (key, _) in root.members where !knownKeys.contains(key) {
      return fail("\"\(key)\" is not a manifest member (known: \(knownKeys.joined(separator: ", ")))")
    }
    let directory = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    var name = defaultName
    if let value = root["name"] {
      guard let text = value.string, !text.isEmpty, !text.contains("/") else {
        return fail("\"name\" must be a non-empty string without \"/\"")
      }
      name = text
    }
    guard let commandValue = root["command"] else { return fail("\"command\" is missing") }
    guard let command = commandValue.string, !command.isEmpty else {
      return fail("\"command\" must be a non-empty string")
    }
    var arguments: [String] = []
    if let value = root["args"] {
      guard value.isArray, value.elements.allSatisfy(\.isString) else {
        return fail("\"args\" must be an array of strings")
      }
      arguments = value.elements.compactMap(\.string)
    }
    var environment: [String: String] = [:]
    if let value = root["env"] {
      guard value.isObject else { return fail("\"env\" must be an object of strings") }
      for (key, member) in value.members {
        guard let text = member.string else { return fail("\"env.\(key)\" must be a string") }
        guard !key.isEmpty, !key.contains("=") else { return fail("\"env\" has an invalid variable name \"\(key)\"") }
        environment[key] = text
      }
    }
    func milliseconds(_ key: StaticString, default fallback: Int64) -> Result<Int64, LoadError> {
      guard let value = root[key] else { return .success(fallback) }
      guard let number = value.int64, number > 0, number <= maxMilliseconds else {
        return .failure(LoadError(message: "\"\(key)\" must be an integer from 1 to \(maxMilliseconds)"))
      }
      return .success(number)
    }
    let timeout: Int64
    let restartBase: Int64
    let restartCap: Int64
    do {
      timeout = try milliseconds("timeoutMs", default: defaultTimeout).get()
      restartBase = try milliseconds("restartBaseMs", default: defaultRestartBase).get()
      restartCap = try milliseconds("restartCapMs", default: max(defaultRestartCap, restartBase)).get()
    } catch {
      return .failure(error)
    }
    guard restartCap >= restartBase else { return fail("\"restartCapMs\" must not be less than \"restartBaseMs\"") }
    var protocolVersion = latestProtocolVersion
    if let value = root["protocolVersion"] {
      guard let number = value.int64, (1...latestProtocolVersion).contains(number) else {
        return fail("\"protocolVersion\" must be 1 or \(latestProtocolVersion)")
      }
      protocolVersion = number
    }
    let executable: String
    switch resolve(command: command, directory: directory, searchPath: searchPath) {
    case .success(let resolved): executable = resolved
    case .failure(let error): return .failure(error)
    }
    return .success(
      ExecManifest(
        name: name, path: path, directory: directory, command: command, executable: executable,
        arguments: arguments, environment: environment, timeoutMilliseconds: timeout,
        options: root["options"].map(ConfigValue.init(json:)), restartBaseMilliseconds: restartBase,
        restartCapMilliseconds: restartCap, protocolVersion: protocolVersion))
  }

  /// The absolute path of the program `command` names, checked to be an executable file.
  static func resolve(command: String, directory: String, searchPath: String?) -> Result<String, LoadError> {
    if command.contains("/") {
      let path = normalized(command.hasPrefix("/") ? command : directory + "/" + command)
      if let problem = executableProblem(path) {
        return .failure(LoadError(message: "command \(command) cannot be run: \(path) \(problem)"))
      }
      return .success(path)
    }
    let directories = (searchPath ?? "").split(separator: ":", omittingEmptySubsequences: false)
    for entry in directories {
      let base = entry.isEmpty ? "." : String(entry)
      let path = absolutePath(base + "/" + command)
      if executableProblem(path) == nil { return .success(path) }
    }
    return .failure(LoadError(message: "command \(command) was not found on PATH"))
  }

  /// Why `path` is not an executable regular file, or `nil` when it is one.
  private static func executableProblem(_ path: String) -> String? {
    var info = stat()
    guard stat(path, &info) == 0 else { return "does not exist (\(systemError(errno)))" }
    guard info.st_mode & S_IFMT == S_IFREG else { return "is not a regular file" }
    guard access(path, X_OK) == 0 else { return "is not executable (\(systemError(errno)))" }
    return nil
  }

  /// `path` made absolute against the working directory.
  private static func absolutePath(_ path: String) -> String {
    if path.hasPrefix("/") { return normalized(path) }
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    guard getcwd(&buffer, buffer.count) != nil else { return path }
    let base = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return normalized(base + "/" + path)
  }

  /// An absolute path without `.` components and repeated slashes (`..` is kept: it may cross a symbolic link).
  private static func normalized(_ path: String) -> String {
    "/" + path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
  }

  /// The file's bytes, refusing files over ``maxFileBytes``.
  private static func readFile(_ path: String) -> Result<[UInt8], LoadError> {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return .failure(LoadError(message: "cannot open: \(systemError(errno))")) }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16_384)
    while true {
      let count = read(fd, &chunk, chunk.count)
      if count < 0 {
        if errno == EINTR { continue }
        return .failure(LoadError(message: "cannot read: \(systemError(errno))"))
      }
      if count == 0 { return .success(bytes) }
      bytes += chunk[0..<count]
      if bytes.count > maxFileBytes {
        return .failure(LoadError(message: "larger than \(maxFileBytes) bytes"))
      }
    }
  }
}

extension ConfigValue {
  /// Copies a parsed JSON value.
  init(json value: JSONValue) {
    switch value.kind {
    case .null: self = .null
    case .bool: self = .bool(value.bool ?? false)
    case .integer, .real: self = .number(value.double ?? 0)
    case .string: self = .string(value.string ?? "")
    case .array: self = .array(value.elements.map(ConfigValue.init(json:)))
    case .object:
      var members: [String: ConfigValue] = [:]
      for (key, member) in value.members { members[key] = ConfigValue(json: member) }
      self = .object(members)
    }
  }
}
