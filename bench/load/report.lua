-- wrk script for the benchmark suite: counts every response that is not 2xx (wrk's own
-- "Non-2xx or 3xx responses" counts only status >= 400) and prints one JSON line, prefixed
-- BENCH, with the totals and latency percentiles (microseconds). The request's method, body
-- and content type come from the environment: BENCH_METHOD, BENCH_BODY, BENCH_CONTENT_TYPE,
-- and one more header from BENCH_HEADER ("Name: value").

local threads = {}

wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body and #body > 0 then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CONTENT_TYPE") or "application/json"
end

local extra = os.getenv("BENCH_HEADER")
if extra and #extra > 0 then
  local name, value = extra:match("^([^:]+):%s*(.*)$")
  wrk.headers[name] = value
end

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  responses = 0
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non2xx_total, responses_total = 0, 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + thread:get("non2xx")
    responses_total = responses_total + thread:get("responses")
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"responses":%d,"non_2xx":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, responses_total, non2xx_total, summary.duration, summary.bytes,
    errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    latency.mean))
end
