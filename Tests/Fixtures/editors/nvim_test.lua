-- Drives editors/nvim in a headless Neovim (run with: nvim --headless -u NONE --cmd "set rtp^=editors/nvim"
-- -c "luafile nvim_test.lua"). Environment: USAGECTX_BIN, USAGECTX_STATE, USAGECTX_RESULT (a file this script writes:
-- one "key value" line per finding, "done ok" at the end, or "failed REASON"). Quits Neovim with :qa! either way;
-- the sidecar must then be gone.
local bin, state_dir, result_path = os.getenv("USAGECTX_BIN"), os.getenv("USAGECTX_STATE"), os.getenv("USAGECTX_RESULT")
local deadline = 30000
local lines = {}

local function record(key, value)
  table.insert(lines, key .. " " .. tostring(value))
  local file = io.open(result_path, "w")
  file:write(table.concat(lines, "\n") .. "\n")
  file:close()
end

local notices = {}
vim.notify = function(message, level)
  table.insert(notices, { message = message, level = level })
end

local function run()
  local usagectx = require("usagectx")
  -- A program that is not there: setup says so and starts nothing.
  local started = usagectx.setup({ cmd = { state_dir .. "/no-such-usagectx" } })
  record("missing_program", (started or usagectx.pid()) and "on" or "off")
  record("missing_notice", #notices > 0 and "yes" or "no")
  notices = {}
  if not usagectx.setup({ cmd = { bin, "--state", state_dir, "--tier", "free" }, statusline_metrics = { "requests" } }) then
    return "setup did not start the sidecar"
  end
  record("pid", usagectx.pid())
  if not vim.wait(deadline, usagectx.ready, 20) then return "no snapshot" end
  record("initial", usagectx.statusline())
  record("compact", table.concat({ usagectx.compact(104857600, "bytes"), usagectx.compact(1550),
    usagectx.compact(100000), usagectx.compact(12500), usagectx.compact(5000000) }, " "))

  -- Another process changes the metric on the same state directory: the sidecar sees it and tells the plugin.
  vim.fn.system({ bin, "call", "usage/increment", '{"metric":"requests","amount":5}', "--state", state_dir })
  if vim.v.shell_error ~= 0 then return "usagectx call failed" end
  if not vim.wait(deadline, function() return usagectx.statusline() == "requests 5/100" end, 20) then
    return "statusline after another process: " .. usagectx.statusline()
  end
  record("after_call", usagectx.statusline())

  -- An increment through the plugin's own sidecar crosses 80 %: the statusline and vim.notify tell it.
  local answered = false
  usagectx.request("usage/increment", { metric = "requests", amount = 80 }, function() answered = true end)
  if not vim.wait(deadline, function() return answered and usagectx.statusline() == "requests 85/100!" end, 20) then
    return "statusline after the increment: " .. usagectx.statusline()
  end
  record("after_increment", usagectx.statusline())
  if not vim.wait(deadline, function() return #notices > 0 end, 20) then return "no threshold notification" end
  record("notice", notices[1].message:gsub("\n", " "))
  record("notice_level", notices[1].level == vim.log.levels.WARN and "warn" or tostring(notices[1].level))

  -- Focus changes reach the sidecar as client/focus notifications; it goes on answering.
  vim.cmd("doautocmd FocusLost")
  vim.cmd("doautocmd FocusGained")
  local pinged = false
  usagectx.request("ping", nil, function(err) pinged = err == nil end)
  if not vim.wait(deadline, function() return pinged end, 20) then return "no answer after focus changes" end
  record("focus", "ok")

  -- :UsageCtx opens a float with the bars.
  vim.cmd("UsageCtx")
  local window = vim.api.nvim_get_current_win()
  record("float", vim.api.nvim_win_get_config(window).relative ~= "" and "yes" or "no")
  local shown = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(window), 0, -1, false)
  for _, line in ipairs(shown) do
    if line:match("^requests") then record("bar", line) end
  end
  vim.cmd("close")
  return nil
end

local ok, failure = pcall(run)
if not ok then
  record("failed", failure)
elseif failure then
  record("failed", failure)
else
  record("done", "ok")
end
vim.cmd("qa!")
