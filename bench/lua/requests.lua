-- wrk script shared by every row of the benchmark, the reference included, so that the
-- load generator does the same work whatever the endpoint.
--
-- Usage: wrk ... -s bench/lua/requests.lua http://127.0.0.1:PORT -- REQUESTS_FILE
-- REQUESTS_FILE holds one request a line: METHOD <TAB> PATH [<TAB> BODY]; each thread
-- cycles through them from its own starting point. Headers come from wrk's -H options.
-- done() prints one line "BENCH_JSON {...}" with the counts and latency percentiles (µs).

local requests = {}
local position = 0
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count)
end

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    local method, path, body = line:match("^(%u+)\t([^\t]+)\t?(.*)$")
    if method then
      if body == "" then body = nil end
      requests[#requests + 1] = wrk.format(method, path, nil, body)
    end
  end
  file:close()
  assert(#requests > 0, "no request in " .. args[1])
  -- Threads start at different places of the list.
  position = ((thread_index or 1) - 1) * math.floor(#requests / 2) % #requests
end

function request()
  position = position % #requests + 1
  return requests[position]
end

function done(summary, latency, _)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
