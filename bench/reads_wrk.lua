-- wrk script for bench/reads.py: one secret read per request, counted exactly.
--
--   wrk -t2 -c32 -d<read+drain>s -s bench/reads_wrk.lua URL -- \
--       signed <lines file> <threads> <read seconds> <expected value>
--   wrk ... -- static <path> <threads> <read seconds> <expected value> <header> <value>
--
-- signed: every line of the file is one pre-signed request,
--   "<path>\t<machine id>\t<timestamp>\t<nonce>\t<signature>"; thread i of n takes
--   lines i, i+n, i+2n, ... so no two requests share a nonce (a replay is a 401).
-- static: the same request every time (a token-authenticated read, e.g. OpenBao).
--
-- Exact counting: each thread reads for <read seconds> from its first request, then
-- parks every connection on an unfinished request (headers never terminated), which
-- the server neither answers nor audits. wrk's -d is longer than the read window by a
-- drain period, so every read in flight at the deadline is answered and counted; no
-- read is cut off by wrk's stop. A thread that runs out of lines parks early
-- ("exhausted"). done() prints one line: "KLBENCH {json}", with the window's edges
-- (t_first, t_last: CLOCK_MONOTONIC seconds, the clock of Python's time.monotonic) so
-- the bench can take the servers' CPU over exactly the read window.

local ffi = require("ffi")
ffi.cdef([[
typedef struct { long tv_sec; long tv_nsec; } kl_timespec;
int clock_gettime(int clk_id, kl_timespec *tp);
]])
local tspec = ffi.new("kl_timespec")
local CLOCK_MONOTONIC = 1

local function now()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, tspec)
  return tonumber(tspec.tv_sec) + tonumber(tspec.tv_nsec) / 1e9
end

local threads = {}

function setup(thread)
  thread:set("thread_index", #threads)
  table.insert(threads, thread)
end

-- Per-thread state (each wrk thread has its own Lua state). Globals are read by done().
issued = 0 -- reads sent
received = 0 -- responses of any status
ok = 0 -- 200 whose body holds the expected value
bad_body = 0 -- 200 without the expected value
t_first = 0
t_last = 0
exhausted = 0
statuses = {}

local reqs = {}
local n_reqs = 0
local next_req = 1
local static = false
local read_seconds = 0
local deadline = nil
local expected = nil
local park = nil
local verify_pending = false

function init(args)
  local mode = args[1]
  local nthreads = tonumber(args[3])
  read_seconds = tonumber(args[4])
  expected = args[5]
  local index = thread_index or 0
  verify_pending = index == 0
  if mode == "signed" then
    local i = 0
    for line in io.lines(args[2]) do
      if i % nthreads == index then
        local path, mid, ts, nonce, sig =
          line:match("^([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)\t([^\t]+)$")
        if path then
          n_reqs = n_reqs + 1
          reqs[n_reqs] = wrk.format("GET", path, {
            ["X-Machine-Id"] = mid,
            ["X-Timestamp"] = ts,
            ["X-Nonce"] = nonce,
            ["X-Signature"] = sig,
          })
        end
      end
      i = i + 1
    end
  elseif mode == "static" then
    static = true
    n_reqs = 1
    reqs[1] = wrk.format("GET", args[2], { [args[6]] = args[7] })
  else
    error("reads_wrk.lua: mode must be 'signed' or 'static', got " .. tostring(mode))
  end
  local host = wrk.headers["Host"] or (wrk.host .. ":" .. tostring(wrk.port))
  -- No blank line after the headers: the request never completes.
  park = "GET /__bench_park HTTP/1.1\r\nHost: " .. host .. "\r\n"
end

function request()
  if verify_pending then
    -- wrk calls request() once on thread 0 right after init to check the request
    -- parses (script_verify_request); that one is never sent, so consume nothing.
    verify_pending = false
    return reqs[next_req] or park
  end
  local t = now()
  if deadline == nil then
    t_first = t
    deadline = t + read_seconds
  end
  if t >= deadline then
    return park
  end
  if static then
    issued = issued + 1
    return reqs[1]
  end
  if next_req > n_reqs then
    exhausted = 1
    return park
  end
  local r = reqs[next_req]
  reqs[next_req] = nil
  next_req = next_req + 1
  issued = issued + 1
  return r
end

function response(status, headers, body)
  received = received + 1
  t_last = now()
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  if status == 200 then
    if body and body:find(expected, 1, true) then
      ok = ok + 1
    else
      bad_body = bad_body + 1
    end
  end
end

function done(summary, latency, requests)
  local total = { issued = 0, received = 0, ok = 0, bad_body = 0, exhausted = 0 }
  local first, last = nil, 0
  local by_status = {}
  for _, thread in ipairs(threads) do
    for k, _ in pairs(total) do
      total[k] = total[k] + (thread:get(k) or 0)
    end
    local tf, tl = thread:get("t_first"), thread:get("t_last")
    if tf and tf > 0 and (first == nil or tf < first) then
      first = tf
    end
    if tl and tl > last then
      last = tl
    end
    for code, count in pairs(thread:get("statuses") or {}) do
      by_status[code] = (by_status[code] or 0) + count
    end
  end
  local parts = {}
  for code, count in pairs(by_status) do
    table.insert(parts, string.format('"%s":%d', code, count))
  end
  local window = 0
  if first ~= nil and last > first then
    window = last - first
  else
    first, last = 0, 0
  end
  local e = summary.errors
  io.write(string.format(
    'KLBENCH {"issued":%d,"received":%d,"ok":%d,"bad_body":%d,"exhausted":%d,'
      .. '"window_s":%.6f,"t_first":%.6f,"t_last":%.6f,"statuses":{%s},"wrk_requests":%d,"wrk_duration_us":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"p50":%.1f,"p90":%.1f,"p99":%.1f,"max":%.1f,"mean":%.1f}}\n',
    total.issued, total.received, total.ok, total.bad_body, total.exhausted,
    window, first, last, table.concat(parts, ","), summary.requests, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean
  ))
end
