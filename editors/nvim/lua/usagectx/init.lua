-- usagectx for Neovim (0.7 or later): starts the usagectx sidecar, keeps a statusline component up to date from its
-- usage/changed notifications, shows the bars in a float (:UsageCtx), tells threshold crossings with vim.notify, and
-- stops the sidecar when Neovim exits. The sidecar does the work; this file only speaks its protocol
-- (vim.lsp.rpc: JSON-RPC with Content-Length framing).
--
--   require("usagectx").setup{ cmd = { "usagectx", "--tier", "pro" } }
--   vim.o.statusline = "%f %= %{v:lua.require'usagectx'.statusline()}"

local M = {}

M.config = {
  -- The program and its arguments.
  cmd = { "usagectx" },
  -- Metrics shown by statusline(), in order; nil shows every metric that has a limit.
  statusline_metrics = nil,
  -- Tell threshold crossings (80 %, 100 %) with vim.notify.
  notify = true,
}

-- What the sidecar told last: metric states by name, their order, the tier.
local state = { metrics = {}, order = {}, tier = nil, client = nil, ready = false, exited = false }

local function number(value)
  if value == nil or value == vim.NIL then return nil end
  return value
end

local function apply_metrics(metrics)
  for name, metric in pairs(metrics or {}) do
    if state.metrics[name] == nil then table.insert(state.order, name) end
    state.metrics[name] = metric
  end
  table.sort(state.order)
end

local function apply_snapshot(snapshot)
  if type(snapshot) ~= "table" then return end
  state.tier = snapshot.tier or state.tier
  apply_metrics(snapshot.metrics)
end

local function redraw()
  pcall(vim.cmd, "redrawstatus!")
end

local function on_notification(method, params)
  if method == "usage/changed" then
    apply_metrics(params.metrics)
    redraw()
    if M.on_change then M.on_change(params) end
  elseif method == "usage/threshold" then
    if M.config.notify then
      local limit = number(params.limit)
      local level = params.level == "exceeded" and vim.log.levels.ERROR or vim.log.levels.WARN
      vim.notify(
        string.format("usagectx: %s %s (%d of %s)", params.metric, params.level, params.used,
          limit and tostring(limit) or "unlimited"),
        level)
    end
  end
end

--- Starts the sidecar (setup does it); returns false when it could not be started.
function M.start()
  if state.client then return true end
  local cmd = M.config.cmd
  state.exited = false
  local ok, client = pcall(vim.lsp.rpc.start, cmd[1], vim.list_slice(cmd, 2), {
    notification = on_notification,
    on_exit = function()
      state.exited = true
      state.client = nil
      state.ready = false
    end,
  })
  if not ok or not client then
    vim.notify("usagectx: could not start " .. table.concat(cmd, " ") .. ": " .. tostring(client), vim.log.levels.ERROR)
    return false
  end
  state.client = client
  client.request("initialize", {
    processId = vim.fn.getpid(),
    clientInfo = { name = "neovim", version = tostring(vim.version().major) .. "." .. tostring(vim.version().minor) },
  }, function(err, result)
    if err then
      vim.notify("usagectx: initialize failed: " .. vim.inspect(err), vim.log.levels.ERROR)
      return
    end
    apply_snapshot(result.snapshot)
    client.notify("initialized", vim.empty_dict())
    client.request("usage/subscribe", vim.empty_dict(), function(serr, subscribed)
      if serr then return end
      apply_snapshot(subscribed.snapshot)
      state.ready = true
      redraw()
    end)
  end)
  return true
end

--- Sends a request to the sidecar; `callback(err, result)` runs on the main loop.
function M.request(method, params, callback)
  if not state.client then return false end
  return state.client.request(method, params or vim.empty_dict(), callback or function() end)
end

--- Stops the sidecar: shutdown, then exit (waits up to `timeout` ms for it to go).
function M.stop(timeout)
  local client = state.client
  if not client then return end
  local done = false
  client.request("shutdown", vim.empty_dict(), function() done = true end)
  vim.wait(timeout or 1000, function() return done end, 10)
  client.notify("exit", vim.empty_dict())
  vim.wait(timeout or 1000, function() return state.exited end, 10)
  if not state.exited and client.handle and not client.handle:is_closing() then client.handle:kill(15) end
  state.client = nil
  state.ready = false
end

--- The sidecar's process id, while it runs.
function M.pid()
  return state.client and state.client.pid or nil
end

--- Whether the first snapshot has arrived.
function M.ready()
  return state.ready
end

--- The state of one metric as last told ({used, limit, remaining, level, ...}), or every metric's.
function M.metrics(name)
  if name then return state.metrics[name] end
  return state.metrics
end

local marks = { ok = "", warning = "!", exceeded = "!!" }

local function trimmed(format, value)
  return (string.format(format, value):gsub("%.0([%a]*)$", "%1"))
end

--- A short form of an amount: 1550, 12.5k, 100k, 5M; bytes as B, KiB, MiB, GiB.
function M.compact(value, unit)
  if unit == "bytes" then
    if value < 1024 then return string.format("%dB", value) end
    if value < 1024 ^ 2 then return trimmed("%.1fKiB", value / 1024) end
    if value < 1024 ^ 3 then return trimmed("%.1fMiB", value / 1024 ^ 2) end
    return trimmed("%.1fGiB", value / 1024 ^ 3)
  end
  if value < 10000 then return string.format("%d", value) end
  if value < 1e6 then return trimmed("%.1fk", value / 1e3) end
  if value < 1e9 then return trimmed("%.1fM", value / 1e6) end
  return trimmed("%.1fG", value / 1e9)
end

--- The statusline text: "tokens 1550/100k · requests 85/100!" (! at 80 %, !! at 100 %).
function M.statusline()
  local names = M.config.statusline_metrics
  if names == nil then
    names = {}
    for _, name in ipairs(state.order) do
      if number(state.metrics[name].limit) then table.insert(names, name) end
    end
  end
  local parts = {}
  for _, name in ipairs(names) do
    local metric = state.metrics[name]
    if metric then
      local limit = number(metric.limit)
      table.insert(parts, string.format("%s %s/%s%s", name, M.compact(metric.used, metric.unit),
        limit and M.compact(limit, metric.unit) or "∞", marks[metric.level] or ""))
    end
  end
  return table.concat(parts, " · ")
end

--- The lines :UsageCtx shows: one bar per metric.
function M.lines()
  local lines = { string.format("usagectx — tier %s", state.tier or "?") }
  local width = 24
  for _, name in ipairs(state.order) do
    local metric = state.metrics[name]
    local limit = number(metric.limit)
    local ratio = limit and limit > 0 and math.min(metric.used / limit, 1) or 0
    local filled = math.floor(ratio * width + 0.5)
    table.insert(lines, string.format("%-10s [%s%s] %3d%%  %s/%s %s%s", name, string.rep("#", filled),
      string.rep("-", width - filled), math.floor((number(metric.ratio) or 0) * 100 + 0.5),
      M.compact(metric.used, metric.unit), limit and M.compact(limit, metric.unit) or "∞",
      metric.unit == "bytes" and "" or (metric.unit or ""), metric.level ~= "ok" and ("  " .. metric.level) or ""))
  end
  return lines
end

--- :UsageCtx: the bars in a floating window (q or <Esc> closes it).
function M.show()
  local lines = M.lines()
  local width = 0
  for _, line in ipairs(lines) do width = math.max(width, vim.fn.strdisplaywidth(line)) end
  local buffer = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buffer, 0, -1, false, lines)
  vim.api.nvim_buf_set_option(buffer, "modifiable", false)
  local window = vim.api.nvim_open_win(buffer, true, {
    relative = "editor", style = "minimal", border = "rounded",
    width = width + 2, height = #lines,
    row = math.max(0, math.floor((vim.o.lines - #lines) / 2) - 1),
    col = math.max(0, math.floor((vim.o.columns - width) / 2)),
  })
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.api.nvim_buf_set_keymap(buffer, "n", key, "<cmd>close<CR>", { noremap = true, silent = true })
  end
  return window, buffer
end

--- Configures and starts: `opts.cmd` names the program and its arguments (default { "usagectx" }).
function M.setup(opts)
  M.config = vim.tbl_extend("force", M.config, opts or {})
  vim.api.nvim_create_user_command("UsageCtx", function() M.show() end, { desc = "usagectx: show the usage bars" })
  local group = vim.api.nvim_create_augroup("usagectx", { clear = true })
  vim.api.nvim_create_autocmd("VimLeavePre", { group = group, callback = function() M.stop() end })
  -- The sidecar reads its sources again when the editor regains focus (throttled on its side).
  for event, focused in pairs({ FocusGained = true, FocusLost = false }) do
    vim.api.nvim_create_autocmd(event, {
      group = group,
      callback = function()
        if state.client then state.client.notify("client/focus", { focused = focused }) end
      end,
    })
  end
  return M.start()
end

return M
