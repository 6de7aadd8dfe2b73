/// Method handlers looked up by the method name's raw bytes, so a lookup allocates nothing.
struct MethodTable<Entry> {
  private var buckets: [UInt64: [(name: [UInt8], entry: Entry)]] = [:]
  private(set) var names: [String] = []

  mutating func insert(_ name: String, _ entry: Entry) {
    let bytes = Array(name.utf8)
    let hash = bytes.withUnsafeBytes(Self.hash)
    buckets[hash, default: []].removeAll { $0.name == bytes }
    buckets[hash, default: []].append((bytes, entry))
    if !names.contains(name) { names.append(name) }
  }

  func lookup(_ name: UnsafeRawBufferPointer) -> Entry? {
    guard let bucket = buckets[Self.hash(name)] else { return nil }
    for candidate in bucket where candidate.name.count == name.count {
      if candidate.name.withUnsafeBytes({ $0.elementsEqual(name) }) { return candidate.entry }
    }
    return nil
  }

  func lookup(_ name: String) -> Entry? {
    var name = name
    return name.withUTF8 { lookup(UnsafeRawBufferPointer($0)) }
  }

  /// FNV-1a over the bytes.
  private static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01b3
    }
    return hash
  }
}
