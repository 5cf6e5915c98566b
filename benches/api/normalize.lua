-- wrk script: POST the same /v1/normalize body on every request and print p50/p99 at the end.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SLUICE_BENCH_KEY") or "bench-key")
local f = assert(io.open(os.getenv("SLUICE_BENCH_BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

-- No `response` function: with one, wrk hands every answer (about 140 KB) to Lua as a string,
-- which cost wrk more CPU than the HTTP parsing, on cores it shares with Sluice. wrk counts
-- answers with a status of 400 or more itself (`errors: ... status` below).
done = function(summary, latency, requests)
  local secs = summary.duration / 1e6
  io.write(string.format("requests/s: %.0f\n", summary.requests / secs))
  io.write(string.format("records/s: %.0f (100 per request)\n", summary.requests * 100 / secs))
  io.write(string.format("latency p50: %.2f ms, p99: %.2f ms, max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("errors: connect %d, read %d, write %d, timeout %d, status %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
