import Glibc

/// glibc functions the Glibc module does not export (they are declared only under `_GNU_SOURCE`), found at run time.
///
/// `pipe2` is in glibc since 2.9, `posix_spawn_file_actions_addchdir_np` since 2.29 and
/// `posix_spawn_file_actions_addclosefrom_np` since 2.34; each is `nil` on a C library without it.
enum GNUExtensions {
  typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
  typealias AddChangeDirectory =
    @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32
  typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32

  /// Creates a pipe with flags (`O_CLOEXEC`) set atomically, so no child spawned at the same moment inherits it.
  static let pipe2: Pipe2? = symbol("pipe2", as: Pipe2.self)

  /// Adds a change of working directory to a spawn's file actions.
  static let addChangeDirectory: AddChangeDirectory? =
    symbol("posix_spawn_file_actions_addchdir_np", as: AddChangeDirectory.self)

  /// Adds the closing of every descriptor from a number up to a spawn's file actions.
  static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np", as: AddCloseFrom.self)

  private static func symbol<Function>(_ name: String, as type: Function.Type) -> Function? {
    dlsym(nil, name).map { unsafeBitCast($0, to: type) }
  }
}
