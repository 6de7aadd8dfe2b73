import ArgumentParser
import PluginHost
import UsageServer

/// `usagectx plugins`: the plugins usagectx finds, as `plugins/list` reports them, for a person.
struct PluginsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "plugins", abstract: "List the plugins found on the search path and whether they loaded.")

  @OptionGroup var options: ServeOptions

  func run() throws {
    let sidecarOptions = try options.sidecarOptions()
    let catalog = PluginCatalog.load(
      searchPath: sidecarOptions.searchPath, configuration: sidecarOptions.configuration, logger: options.makeLogger())
    defer { catalog.shutdown() }
    let statuses = catalog.currentStatuses()
    let rows = statuses.map { status in
      [
        status.name, status.version ?? "-", status.abi.map(String.init) ?? "-", status.kind.rawValue,
        status.state.rawValue, status.metrics.isEmpty ? "-" : status.metrics.joined(separator: ","), status.path,
      ]
    }
    print(Self.table(header: ["NAME", "VERSION", "ABI", "KIND", "STATE", "METRICS", "PATH"], rows: rows))
    for status in statuses where status.lastError != nil {
      print("\(status.name): \(status.lastError ?? "")")
    }
    if statuses.isEmpty {
      print("no plugins found on: \(sidecarOptions.searchPath.entries.map(\.path).joined(separator: ":"))")
    }
  }

  /// Left-aligned columns separated by two spaces.
  static func table(header: [String], rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    return all.map { row in
      row.enumerated().map { column, cell in
        column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
      }.joined(separator: "  ")
    }.joined(separator: "\n")
  }
}
