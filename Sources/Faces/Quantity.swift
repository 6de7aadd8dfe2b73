/// How the faces write numbers for people: amounts in a metric's unit (bytes as KiB, MiB, GiB), compact counts,
/// percentages, costs with their currency and durations.
public enum Quantity {
  /// `amount` in `unit`: bytes in binary multiples (`512 B`, `1.5 KiB`, `100 MiB`), other units as compact counts
  /// (`950`, `12.3k`, `1.2M`).
  public static func amount(_ amount: Int64, unit: String) -> String {
    unit == "bytes" ? bytes(amount) : compact(amount)
  }

  /// `512 B`, `1.5 KiB`, `100 MiB`, `2 GiB`: one decimal below 10 of a multiple, none above.
  public static func bytes(_ value: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var scaled = Double(value.magnitude)
    var index = 0
    while scaled >= 1024 && index < units.count - 1 {
      scaled /= 1024
      index += 1
    }
    let sign = value < 0 ? "-" : ""
    return sign + (index == 0 ? String(value.magnitude) : decimal(scaled)) + " " + units[index]
  }

  /// `950`, `1.2k`, `12k`, `3.4M`, `5G`.
  public static func compact(_ value: Int64) -> String {
    let units = ["", "k", "M", "G", "T", "P", "E"]
    var scaled = Double(value.magnitude)
    var index = 0
    while scaled >= 1000 && index < units.count - 1 {
      scaled /= 1000
      index += 1
    }
    let sign = value < 0 ? "-" : ""
    return sign + (index == 0 ? String(value.magnitude) : decimal(scaled) + units[index])
  }

  /// One decimal below 10 (trailing `.0` dropped), whole numbers above.
  static func decimal(_ value: Double) -> String {
    if value < 9.95 {
      let tenths = Int((value * 10).rounded())
      return tenths % 10 == 0 ? String(tenths / 10) : "\(tenths / 10).\(tenths % 10)"
    }
    return String(Int(value.rounded()))
  }

  /// A whole number with thousands separators: `1,234,567`.
  public static func grouped(_ value: Int64) -> String {
    let digits = String(value.magnitude)
    var result = ""
    for (offset, character) in digits.enumerated() {
      if offset > 0 && (digits.count - offset) % 3 == 0 { result += "," }
      result.append(character)
    }
    return (value < 0 ? "-" : "") + result
  }

  /// `ratio` as a whole percentage: `0`, `42`, `100`, `130` (rounded down, so 99.6 % is not shown as 100).
  public static func percent(_ ratio: Double) -> Int {
    guard ratio.isFinite, ratio > 0 else { return 0 }
    return Int((ratio * 100 + 1e-9).rounded(.down))
  }

  /// A cost: `$0.21` for USD (four decimals below a cent), else `0.21 EUR`.
  public static func cost(_ value: Double, currency: String?) -> String {
    let digits = value != 0 && abs(value) < 0.01 ? 4 : 2
    let text = fixed(value, digits: digits)
    switch currency {
    case "USD", nil: return "$" + text
    case let code?: return text + " " + code
    }
  }

  /// `value` with exactly `digits` decimals.
  public static func fixed(_ value: Double, digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (abs(value) * scale).rounded()
    guard scaled < 9e15 else { return String(value) }
    let whole = Int64(scaled) / Int64(scale)
    let fraction = Int64(scaled) % Int64(scale)
    var fractionText = String(fraction)
    while fractionText.count < digits { fractionText = "0" + fractionText }
    return (value < 0 && scaled != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + fractionText : "")
  }

  /// A duration in seconds for people: `45s`, `12m`, `5h 12m`, `3d 4h`.
  public static func duration(seconds: Int64) -> String {
    let value = max(0, seconds)
    if value < 60 { return "\(value)s" }
    if value < 3600 { return "\(value / 60)m" }
    if value < 86_400 { return "\(value / 3600)h \(value % 3600 / 60)m" }
    return "\(value / 86_400)d \(value % 86_400 / 3600)h"
  }
}

extension Quantity {
  /// A cost as a plain decimal for CSV and tables: at most ten decimals, trailing zeros dropped (`0.0065`, `12`).
  public static func plain(_ value: Double) -> String {
    var text = fixed(value, digits: 10)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text == "-0" ? "0" : text
  }

  /// Money rounded to ten decimals, so sums of prices show no binary floating-point noise.
  public static func rounded(_ value: Double) -> Double { (value * 1e10).rounded() / 1e10 }
}
