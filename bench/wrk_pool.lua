-- wrk script for bench/run.py: every request is the next line of a pre-generated pool file, so every request is
-- distinct (a fresh MessageSid with its own X-Twilio-Signature, or a fresh post text) and the count is bounded.
--
-- wrk ... -s bench/wrk_pool.lua URL -- POOL_FILE THREADS CONTENT_TYPE AUTHORIZATION
-- Pool line: "<X-Twilio-Signature or ->\t<request body>". AUTHORIZATION is "-" for none.
-- Thread k (0-based) takes lines k, k+THREADS, k+2*THREADS... When a thread runs out of lines it repeats its last
-- one and counts it in "exhausted" (the runner then reports the run as invalid).
-- At the end one line "WRKJSON {...}" is printed for the runner to parse.

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

local pool = {}
local nxt = 1
sent = 0
ok = 0
other = 0
exhausted = 0
last_other = 0

function init(args)
  local path = args[1]
  local nthreads = tonumber(args[2])
  ctype = args[3]
  auth = args[4]
  local i = 0
  for line in io.lines(path) do
    if i % nthreads == id then
      local tab = line:find("\t", 1, true)
      table.insert(pool, { line:sub(1, tab - 1), line:sub(tab + 1) })
    end
    i = i + 1
  end
end

function request()
  local item = pool[nxt]
  if item == nil then
    exhausted = exhausted + 1
    item = pool[#pool]
  else
    nxt = nxt + 1
  end
  sent = sent + 1
  local headers = { ["Content-Type"] = ctype }
  if item[1] ~= "-" then
    headers["X-Twilio-Signature"] = item[1]
  end
  if auth ~= "-" then
    headers["Authorization"] = auth
  end
  return wrk.format("POST", nil, headers, item[2])
end

function response(status, headers, body)
  if status >= 200 and status < 300 then
    ok = ok + 1
  else
    other = other + 1
    last_other = status
  end
end

function done(summary, latency, requests)
  local t_sent, t_ok, t_other, t_ex, t_last, per_thread_sent = 0, 0, 0, 0, 0, {}
  for _, t in ipairs(threads) do
    t_sent = t_sent + t:get("sent")
    t_ok = t_ok + t:get("ok")
    t_other = t_other + t:get("other")
    t_ex = t_ex + t:get("exhausted")
    if t:get("last_other") ~= 0 then
      t_last = t:get("last_other")
    end
    table.insert(per_thread_sent, tostring(t:get("sent")))
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"duration_us": %d, "responses": %d, "sent": %d, "ok_2xx": %d, "non_2xx": %d, "last_non_2xx": %d, '
      .. '"exhausted": %d, "per_thread_sent": [%s], "errors": {"connect": %d, "read": %d, "write": %d, '
      .. '"status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d, "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.duration, summary.requests, t_sent, t_ok, t_other, t_last, t_ex, table.concat(per_thread_sent, ", "),
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
