#!/usr/bin/env bash
# Load benchmark of POST /v1/normalize (not a test): builds the release binary, starts
# `sluice run` with the API on a free port, and drives it with wrk using 100-record batches.
#
#   bash benches/api/run.sh                       # 20 s, 1 wrk thread, 8 connections
#   DURATION=60s CONNECTIONS=64 bash benches/api/run.sh
#   MIX=syslog bash benches/api/run.sh            # only syslog lines (see make_body.py)
#
# Prints requests/s, the latency percentiles (p50, p99), and the CPU time Sluice and wrk used per
# request: on a machine shared with other work, requests/s depends on what else runs, while CPU per
# request does not (much). The target on a 2-core machine is at least 2,000 requests/s of
# 100-record batches. wrk shares the cores with Sluice.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
DURATION=${DURATION:-20s}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-8}
RECORDS=${RECORDS:-100}
MIX=${MIX:-}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

if ! command -v wrk >/dev/null || [ ! -x /usr/bin/time ]; then
  echo "installing wrk and time" >&2
  apt-get update -qq && apt-get install -y -qq wrk time >/dev/null
fi
cargo build --release --quiet
BIN=$TARGET_DIR/release/sluice

WORK=$(mktemp -d)
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 benches/api/make_body.py examples/samples "$RECORDS" "$MIX" > "$WORK/body.json"
mkdir -p "$WORK/logs"
cat > "$WORK/sluice.yaml" <<YAML
data_dir: $WORK/data
log:
  level: warn,sluice::api=info
api:
  listen: 127.0.0.1:0
  api_keys: [bench-key]
inputs:
  idle:
    type: file
    include: ["$WORK/logs/*.log"]
outputs:
  sink:
    type: file
    inputs: [idle]
    path: "$WORK/out.ndjson"
YAML
NO_COLOR=1 "$BIN" run -c "$WORK/sluice.yaml" 2> "$WORK/sluice.log" &
PID=$!
ADDR=
for _ in $(seq 1 100); do
  ADDR=$(sed 's/\x1b\[[0-9;]*m//g' "$WORK/sluice.log" | grep -o 'API listening address=[^ ]*' | head -1 | cut -d= -f2 || true)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$WORK/sluice.log"; echo "sluice did not start" >&2; exit 1; }
until curl -sf "http://$ADDR/ready" >/dev/null; do sleep 0.1; done

echo "body: $RECORDS records (${MIX:-all samples}), $(wc -c < "$WORK/body.json") bytes; $THREADS threads, $CONNECTIONS connections, $DURATION"
# A short warm-up, then the measured run.
SLUICE_BENCH_BODY="$WORK/body.json" wrk -t"$THREADS" -c"$CONNECTIONS" -d3s \
  -s benches/api/normalize.lua "http://$ADDR/v1/normalize" >/dev/null
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
before=$(cpu_ticks "$PID")
SLUICE_BENCH_BODY="$WORK/body.json" /usr/bin/time -f "wrk cpu: %U user %S sys" -o "$WORK/wrk.time" \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency \
  -s benches/api/normalize.lua "http://$ADDR/v1/normalize" | tee "$WORK/wrk.out"
after=$(cpu_ticks "$PID")
requests=$(awk '/requests in/ {print $1}' "$WORK/wrk.out")
wrk_cpu=$(awk '{print $3 + $5}' "$WORK/wrk.time")
awk -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v n="$requests" -v w="$wrk_cpu" 'BEGIN {
  printf "cpu per request: sluice %.3f ms, wrk %.3f ms (sluice %.1f s, wrk %.1f s for %d requests)\n",
    t / hz * 1000 / n, w * 1000 / n, t / hz, w, n }'
echo "load average while running: $(cut -d' ' -f1-3 /proc/loadavg)"
