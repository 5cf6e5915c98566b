#!/usr/bin/env bash
# End-to-end benchmark of Sluice as a user runs it (not a test). One command:
#
#   bash benches/e2e/run.sh                 # W1, W2 (1,000,000 lines each) and W3; a few minutes
#   bash benches/e2e/run.sh --quick         # smoke run, 20,000 lines, well under a minute
#   bash benches/e2e/run.sh --count 200000 --only w1,w3
#   bash benches/e2e/run.sh --soak 600      # also the 10-minute memory-flatness check
#   bash benches/e2e/run.sh --no-build ...  # use the release binary as it is
#   bash benches/e2e/run.sh --pgo ...       # the profile-guided build of scripts/build-pgo.sh
#
# It builds the release binary (`cargo build --release --locked`, niced), generates the workloads
# with ../shared/bench/gen_workload.py (or benches/e2e/gen.py from examples/samples/ when
# ../shared is absent), and measures:
#   W1 run / W2 run     `sluice run -c` file input → file output, W1 (syslog 40, PAN-OS 40,
#                       CloudTrail 10, Windows 10) with GeoIP + IOC enrichment from
#                       enrichment-data/, W2 syslog only; waits until every record is out, SIGTERM
#   W1/W2 normalize     `sluice normalize -c <same config> IN -o OUT`
#   W3                  W1 over a syslog TCP input at half the W1 run's rate: p50/p99/p99.9 from
#                       sluice_end_to_end_latency_seconds, cross-checked from the outside
# and prints one markdown table (also written to $CARGO_TARGET_DIR/e2e/results.md, or --results).
# Records per CPU-second (user + system time of the Sluice process) is the figure to compare on a
# shared machine. `python3 benches/e2e/bench.py --help` lists every option. Needs python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
build=1
bin=$TARGET_DIR/release/sluice
pgo=0
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0 ;;
    --pgo) pgo=1; bin=$TARGET_DIR/pgo/release/sluice ;;
    *) args+=("$a") ;;
  esac
done
if [ "$build" = 1 ] && [ "$pgo" = 1 ]; then
  nice -n "${BUILD_NICE:-10}" bash scripts/build-pgo.sh >/dev/null
elif [ "$build" = 1 ]; then
  nice -n "${BUILD_NICE:-10}" cargo build --release --locked --quiet
fi
exec python3 benches/e2e/bench.py --bin "$bin" "${args[@]}"
