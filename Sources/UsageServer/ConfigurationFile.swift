public import UsageCore
import Glibc
import JSON

/// The configuration file (`--config FILE`): the same shape as `initialize.config`, read with Jansson.
public enum ConfigurationFile {
  /// Why a configuration file was refused; the message names the file and, where it can, the setting.
  public struct Failure: Error, CustomStringConvertible {
    public let description: String
  }

  /// Reads `path` and applies it over `base`.
  public static func load(_ path: String, over base: UsageConfiguration) throws(Failure) -> UsageConfiguration {
    guard let file = fopen(path, "rb") else {
      throw Failure(description: "\(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
      let count = fread(&chunk, 1, chunk.count, file)
      if count > 0 { bytes.append(contentsOf: chunk[0..<count]) }
      if count < chunk.count { break }
      if bytes.count > 16 << 20 { throw Failure(description: "\(path): larger than 16 MiB") }
    }
    let parsed = bytes.withUnsafeBytes { raw in Result { () throws(Failure) in try parse(raw, over: base, named: path) }
    }
    return try parsed.get()
  }

  /// Applies the configuration text `bytes` over `base`; `name` (the file's path) begins every message.
  public static func parse(
    _ bytes: UnsafeRawBufferPointer, over base: UsageConfiguration, named name: String
  ) throws(Failure) -> UsageConfiguration {
    let document: JSONDocument
    do {
      document = try JSONDocument.parse(bytes, maxDepth: 64)
    } catch {
      throw Failure(description: "\(name): not valid JSON: \(error)")
    }
    var configuration = base
    do throws(UsageError) {
      try configuration.merge(document.withRoot { ConfigValue($0) })
    } catch {
      throw Failure(description: "\(name): \(error)")
    }
    return configuration
  }
}
