#!/usr/bin/env bash
# Throughput of the Kafka output and input against a local broker (tansu, in-memory storage, from
# ../shared/tools/kafka-broker.sh) — a benchmark, not a test.
#
#   bash benches/kafka/run.sh                 # 200,000 W1 records, topics with 3 partitions
#   COUNT=1000000 PARTITIONS=6 bash benches/kafka/run.sh
#   PROFILE=debug COUNT=20000 bash benches/kafka/run.sh    # a quick check of the script itself
#
# 1. Output: a W1 file → `sluice run` (file input with exit_on_eof) → Kafka. Sluice exits once the
#    broker has confirmed every record (acks=all, idempotent), so the wall time covers delivery.
# 2. Input: the same raw lines produced to a topic (examples/kafka_produce.rs), then Kafka →
#    `sluice run` → NDJSON file, timed until every record is written.
# Prints records/s, MB/s of raw input, and the CPU seconds Sluice used. The broker shares the two
# cores with Sluice, so these are lower bounds for Sluice itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
COUNT=${COUNT:-200000}
PARTITIONS=${PARTITIONS:-3}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
BROKER_SH=$ROOT/../shared/tools/kafka-broker.sh

if [ ! -x /usr/bin/time ]; then
  echo "installing time" >&2
  apt-get update -qq && apt-get install -y -qq time >/dev/null
fi
PROFILE=${PROFILE:-release}
if [ "$PROFILE" = release ]; then
  cargo build --release --quiet --bin sluice --example kafka_produce
else
  cargo build --quiet --bin sluice --example kafka_produce
fi
BIN=$TARGET_DIR/$PROFILE/sluice
PRODUCE=$TARGET_DIR/$PROFILE/examples/kafka_produce

WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PID=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  bash "$BROKER_SH" stop "$PORT" || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ADDR=$(bash "$BROKER_SH" start "$PORT" | tail -n 1)
KAFKA_PORT=$PORT bash "$BROKER_SH" topic bench-out "$PARTITIONS"
KAFKA_PORT=$PORT bash "$BROKER_SH" topic bench-in "$PARTITIONS"
mkdir -p "$WORK/logs" "$WORK/out"
python3 ../shared/bench/gen_workload.py --count "$COUNT" --out "$WORK/logs/w1.log" >/dev/null
rm -f "$WORK/logs/w1.log.labels"
BYTES=$(stat -c %s "$WORK/logs/w1.log")

report() { # name wall cpu records
  python3 -c "
import sys
name, wall, cpu, n, b = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f'{name}: {n} records in {wall:.1f} s: {n / wall:,.0f} records/s, {b / wall / 1e6:.1f} MB/s of raw input, {cpu:.1f} CPU-s ({n / cpu:,.0f} records per CPU-second)')
" "$@"
}

# 1. Output.
cat > "$WORK/out.yaml" <<YAML
data_dir: $WORK/data-out
log: {level: warn}
inputs:
  app: {type: file, include: ["$WORK/logs/*.log"], read_from: beginning, exit_on_eof: true}
outputs:
  bus:
    type: kafka
    inputs: [app]
    brokers: ["$ADDR"]
    topic: bench-out
    compression: lz4
YAML
/usr/bin/time -f "%e %U %S %M" -o "$WORK/time-out" "$BIN" run -c "$WORK/out.yaml" 2> "$WORK/sluice-out.log"
read -r wall user sys rss < "$WORK/time-out"
report "kafka output" "$wall" "$(python3 -c "print($user + $sys)")" "$COUNT" "$BYTES"
echo "  peak RSS $((rss / 1024)) MB"

# 2. Input.
"$PRODUCE" "$ADDR" bench-in "$WORK/logs/w1.log"
cat > "$WORK/in.yaml" <<YAML
data_dir: $WORK/data-in
log: {level: warn}
inputs:
  bus: {type: kafka, brokers: ["$ADDR"], topics: [bench-in], group_id: bench, auto_offset_reset: earliest}
outputs:
  local: {type: file, inputs: [bus], path: "$WORK/out/in.ndjson"}
YAML
start=$(date +%s.%N)
"$BIN" run -c "$WORK/in.yaml" 2> "$WORK/sluice-in.log" &
PID=$!
while [ "$(cat "$WORK"/out/in.ndjson* 2>/dev/null | wc -l)" -lt "$COUNT" ]; do
  kill -0 "$PID" || { cat "$WORK/sluice-in.log" >&2; exit 1; }
  sleep 0.2
done
end=$(date +%s.%N)
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{print ($14 + $15) / t}' "/proc/$PID/stat")
rss=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$PID/status")
kill -TERM "$PID"; wait "$PID" || true; PID=
report "kafka input" "$(python3 -c "print($end - $start)")" "$cpu" "$COUNT" "$BYTES"
echo "  peak RSS $rss MB"
