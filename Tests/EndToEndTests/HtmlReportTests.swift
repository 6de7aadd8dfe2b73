import Foundation
import TestSupport
import Testing

/// `usagectx report --format html` rendered by headless Chromium: the page is self-contained, and the PNG shows the
/// chart's bars in the series' colours and the totals.
@Suite("usagectx report --format html")
struct HtmlReportTests {
  /// Counts, in a PNG, the pixels of each colour (RGB, within a small tolerance) and the pixels that are not white.
  static let pixelCounter = #"""
    import json, struct, sys, zlib
    data = open(sys.argv[1], 'rb').read()
    colours = json.loads(sys.argv[2])
    assert data[:8] == b'\x89PNG\r\n\x1a\n'
    pos, chunks, header = 8, b'', None
    while pos < len(data):
        length, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b'IHDR': header = struct.unpack('>IIBBBBB', body)
        if kind == b'IDAT': chunks += body
        pos += 12 + length
    width, height, depth, colour_type = header[0], header[1], header[2], header[3]
    assert depth == 8 and colour_type in (2, 6)
    channels = 3 if colour_type == 2 else 4
    raw = zlib.decompress(chunks)
    stride = width * channels
    rows, previous, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1:at + 1 + stride]); at += 1 + stride
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b = previous[i]; c = previous[i - channels] if i >= channels else 0
            if kind == 1: line[i] = (line[i] + a) & 255
            elif kind == 2: line[i] = (line[i] + b) & 255
            elif kind == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line); previous = line
    counts = [0] * len(colours); ink = 0
    for line in rows:
        for x in range(width):
            r, g, b = line[x * channels:x * channels + 3]
            if r < 245 or g < 245 or b < 245: ink += 1
            for n, (cr, cg, cb) in enumerate(colours):
                if abs(r - cr) <= 6 and abs(g - cg) <= 6 and abs(b - cb) <= 6: counts[n] += 1
    print(json.dumps({"width": width, "height": height, "ink": ink, "counts": counts}))
    """#

  @Test("the page: inline SVG bars per model, the totals table, nothing fetched; Chromium draws the bars")
  func rendered() throws {
    let root = try ImportCommandTests.claudeLogs()
    let state = StatusCommandTests.directory()
    let imported = try OneShotCommand.run(["import", "claude", root + "/projects", "--state", state])
    #expect(imported.status == 0, "\(imported.stderr)")
    let run = try OneShotCommand.run(["report", "--state", state, "--by", "model", "--format", "html"])
    #expect(run.status == 0, "\(run.stderr)")
    let html = run.stdout
    #expect(html.hasPrefix("<!DOCTYPE html>"))
    #expect(html.contains("<svg"))
    #expect(html.contains("claude-sonnet-4-5-20250929"))
    #expect(html.contains("32,630"))  // the total of the tokens
    #expect(html.contains("USD"))
    #expect(!html.contains("<script"))
    #expect(!html.contains("src="))
    #expect(!html.contains("href="))

    let page = state + "-report.html"
    try html.write(toFile: page, atomically: true, encoding: .utf8)
    let png = state + "-report.png"
    let chromium = try SpawnedProcess(
      "chromium",
      [
        "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1000,800",
        "--screenshot=\(png)", "file://\(page)",
      ], stdin: .null, stdout: .null, stderr: .null)
    #expect(try chromium.wait(timeout: 120)?.code == 0)
    #expect(FileManager.default.fileExists(atPath: png))

    let output = state + "-pixels.json"
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let file = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
    defer { try? file.close() }
    // The first series' colour (the model with the most tokens), and the text's.
    let colours = "[[78, 121, 167], [34, 34, 34]]"
    let python = try SpawnedProcess(
      "python3", ["-c", Self.pixelCounter, png, colours], stdin: .null, stdout: .fileDescriptor(file.fileDescriptor))
    #expect(try python.wait(timeout: 120)?.code == 0)
    let result =
      try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Any]
    let counts = result?["counts"] as? [Int] ?? []
    let ink = result?["ink"] as? Int ?? 0
    #expect(ink > 5_000, "the page is not blank: \(String(describing: result))")
    #expect(counts.count == 2 && counts[0] > 1_000, "bars drawn in the first series' colour: \(counts)")
    #expect(counts.count == 2 && counts[1] > 500, "text drawn: \(counts)")
  }
}
