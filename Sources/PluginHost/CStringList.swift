/// NUL-terminated copies of strings in one buffer, for handing a list of strings to C.
enum CStringList {
  /// Calls `body` with pointers to C strings equal to `strings`, valid during the call.
  static func with<R>(_ strings: [String], _ body: ([UnsafePointer<CChar>?]) -> R) -> R {
    var storage: [CChar] = []
    var offsets: [Int] = []
    for string in strings {
      offsets.append(storage.count)
      storage.append(contentsOf: string.utf8CString)
    }
    return storage.withUnsafeBufferPointer { buffer in
      guard let base = buffer.baseAddress else { return body([]) }
      return body(offsets.map { UnsafePointer(base + $0) })
    }
  }
}
