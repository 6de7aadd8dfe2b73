import Foundation
import JSON
import Testing

/// The editor clients in editors/: Neovim headless and Emacs in batch mode start usagectx, show the usage after
/// increments made by another process and through their own sidecar, tell the threshold crossing, and leave no
/// sidecar behind.
@Suite("Editor clients")
struct EditorTests {
  static let nvimAvailable = ExternalTool.works("nvim", ["--headless", "-u", "NONE", "+qa!"])
  static let emacsAvailable = ExternalTool.works("emacs", ["--batch", "-Q", "--eval", "(require 'jsonrpc)"])

  @Test(
    "Neovim: setup, statusline after increments, threshold notification, float, sidecar gone after :qa",
    .enabled(if: nvimAvailable, "nvim is not installed (scripts/bootstrap-editors installs it)"))
  func neovim() throws {
    let state = DurabilityTests.stateDirectory()
    try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
    let resultPath = state + "/nvim-result"
    let run = try ExternalTool.run(
      "nvim",
      [
        "--headless", "-u", "NONE", "-i", "NONE", "--cmd", "set rtp^=\(ExternalTool.root)/editors/nvim",
        "-c", "luafile Tests/Fixtures/editors/nvim_test.lua",
      ],
      environment: [
        "USAGECTX_BIN": SidecarProcess.binaryPath, "USAGECTX_STATE": state, "USAGECTX_RESULT": resultPath,
        "XDG_STATE_HOME": state + "/nvim-state", "XDG_CACHE_HOME": state + "/nvim-cache",
      ])
    let text = (try? String(contentsOfFile: resultPath, encoding: .utf8)) ?? ""
    let found = ExternalTool.findings(text)
    #expect(run.status == 0, "nvim: \(run.stdout) \(run.stderr)")
    #expect(found["done"] == "ok", "findings:\n\(text)\nnvim stderr: \(run.stderr)")
    #expect(found["initial"] == "requests 0/100")
    #expect(found["compact"] == "100MiB 1550 100k 12.5k 5M")
    #expect(found["after_call"] == "requests 5/100")
    #expect(found["after_increment"] == "requests 85/100!")
    #expect(found["notice"] == "usagectx: requests warning (85 of 100)")
    #expect(found["notice_level"] == "warn")
    #expect(found["focus"] == "ok")
    #expect(found["float"] == "yes")
    #expect(found["missing_program"] == "off")
    #expect(found["missing_notice"] == "yes")
    #expect(found["bar"]?.contains("85/100") == true)
    let pid = try #require(found["pid"].flatMap { Int32($0) })
    #expect(ExternalTool.processEnds(pid), "the sidecar \(pid) still runs after :qa")
  }

  @Test(
    "Emacs: usagectx-mode's mode-line text after increments, threshold message, clean shutdown",
    .enabled(if: emacsAvailable, "emacs is not installed (scripts/bootstrap-editors installs emacs-nox)"))
  func emacs() throws {
    let state = DurabilityTests.stateDirectory()
    let run = try ExternalTool.run(
      "emacs",
      ["--batch", "-Q", "-l", "editors/emacs/usagectx.el", "-l", "Tests/Fixtures/editors/emacs_test.el"],
      environment: ["USAGECTX_BIN": SidecarProcess.binaryPath, "USAGECTX_STATE": state])
    let found = ExternalTool.findings(run.stdout)
    #expect(run.status == 0, "emacs: \(run.stdout) \(run.stderr)")
    #expect(found["done"] == "ok", "stdout:\n\(run.stdout)\nstderr: \(run.stderr)")
    #expect(found["initial"] == "requests 0/100")
    #expect(found["compact"] == "100MiB 1550 100k 12.5k 5M")
    #expect(found["after_call"] == "requests 5/100")
    #expect(found["after_increment"] == "requests 85/100!")
    #expect(found["threshold"] == "warning")
    #expect(found["focus"] == "ok")
    #expect(found["segment"] == "[ requests 85/100! ]")
    #expect(found["segment_after"] == "removed")
    #expect(found["missing_program"] == "off")
    #expect(found["bar"]?.contains("85/100") == true)
    // Clean shutdown: shutdown, then exit, answered with exit code 0.
    #expect(found["exit_status"] == "0")
    #expect(run.stderr.contains("usagectx: requests warning (85 of 100)"))
    let pid = try #require(found["pid"].flatMap { Int32($0) })
    #expect(ExternalTool.processEnds(pid))
  }
}
