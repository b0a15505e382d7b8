-- wrk script for loadtest/bench.py: counter reads or increments over a key space of entities.
--
--   wrk -t1 -c32 -d10s -s loadtest/wrk.lua http://127.0.0.1:18010 -- read 1000 bench
--
-- Arguments after `--`: the operation (read or increment), the number of entities, and the
-- prefix of their ids. At the end it prints one line, `BENCH {json}`, that bench.py parses:
-- requests, duration, errors by kind, and latency percentiles in microseconds. wrk counts any
-- status of 400 or above as a status error; bench.py refuses a measurement that has errors.

local operation = "read"
local entities = 1000
local prefix = "bench"
local body = '{"amount": 1}'
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  operation = args[1] or operation
  entities = tonumber(args[2] or entities)
  prefix = args[3] or prefix
  math.randomseed(os.time() + math.floor(os.clock() * 1000000))
end

function request()
  local entity = prefix .. "-c" .. math.random(0, entities - 1)
  if operation == "increment" then
    return wrk.format("POST", "/counter/" .. entity .. "/increment", headers, body)
  end
  return wrk.format("GET", "/counter/" .. entity, nil, nil)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "errors": {"connect": %d, "read": %d,'
      .. ' "write": %d, "status": %d, "timeout": %d}, "latency_us": {"p50": %d, "p90": %d,'
      .. ' "p99": %d, "max": %d, "mean": %.1f}}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
