#!/usr/bin/env bash
# Builds a profile-guided (PGO) release binary of Sluice:
#   1. a release build instrumented to count branches and calls (-Cprofile-generate);
#   2. that binary normalizes a training workload generated from the project's own samples
#      (benches/e2e/gen.py: a W1-like mix with GeoIP + IOC enrichment from enrichment-data/, and
#      syslog only), never the shared corpus the benchmarks measure, with `sluice normalize` and
#      with `sluice run` (a file input and a syslog TCP input into a file output);
#   3. llvm-profdata merges the counts, and the release build is compiled again with them
#      (-Cprofile-use), so the compiler lays out and inlines the hot paths for what it saw.
# Result: $CARGO_TARGET_DIR/pgo/release/sluice (default target/pgo/release/sluice) and the merged
# profile beside it in pgo/sluice.profdata; the usual target/release is left alone.
# Needs python3 and llvm-profdata of rustc's own LLVM major version (`rustc -vV`): $LLVM_PROFDATA,
# llvm-profdata-N on PATH, /usr/lib/llvm-N/bin/llvm-profdata, or, when run as root, Debian's
# llvm-N installed here.
#
#   bash scripts/build-pgo.sh            # about twice a release build
#   SLUICE_PGO_RECORDS=50000 bash scripts/build-pgo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
records=${SLUICE_PGO_RECORDS:-200000}

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=${LLVM_PROFDATA:-}
if [ -z "$profdata" ]; then
  for c in "llvm-profdata-$major" "/usr/lib/llvm-$major/bin/llvm-profdata"; do
    if command -v "$c" >/dev/null 2>&1; then profdata=$(command -v "$c"); break; fi
  done
fi
if [ -z "$profdata" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "build-pgo: installing llvm-$major for llvm-profdata" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "llvm-$major" >/dev/null
  profdata=/usr/lib/llvm-$major/bin/llvm-profdata
fi
if [ -z "$profdata" ] || ! [ -x "$profdata" ]; then
  echo "build-pgo: no llvm-profdata for LLVM $major (rustc's); set LLVM_PROFDATA" >&2
  exit 1
fi

work=$(mktemp -d)
run_pid=
# A failed step leaves no training daemon behind and no temporary files.
trap '[ -z "$run_pid" ] || kill "$run_pid" 2>/dev/null; rm -rf "$work"' EXIT
# Fixed paths in RUSTFLAGS (cargo rebuilds everything when RUSTFLAGS change), so a second run
# skips the instrumented build when nothing changed; the optimized build is redone for each new
# profile (347-451 s here). `rm -rf target/pgo-gen target/pgo` starts from nothing.
profiles=$target/pgo-gen/profiles
rm -rf "$profiles"

echo "build-pgo: 1/3 instrumented build" >&2
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-generate=$profiles" CARGO_TARGET_DIR="$target/pgo-gen" \
  cargo build --release --locked --quiet --bin sluice
gen_bin=$target/pgo-gen/release/sluice

echo "build-pgo: 2/3 training on $records generated records" >&2
python3 benches/e2e/gen.py --mix syslog=40,panos=40,cloudtrail=10,windows=10 \
  --count "$records" --out "$work/mixed.log" >/dev/null
python3 benches/e2e/gen.py --mix syslog=100 --count "$((records / 2))" --out "$work/syslog.log" >/dev/null
"$gen_bin" build-mmdb enrichment-data/geoip-example.csv -o "$work/geo.mmdb" >/dev/null
cat > "$work/enrich.yaml" <<EOF
data_dir: $work/data
pipeline:
  enrich:
    geoip:
      databases:
        - path: $work/geo.mmdb
    ioc:
      files: [$root/enrichment-data/ioc-example.csv, $root/enrichment-data/ioc-example.stix.json, $root/enrichment-data/ioc-example.txt]
inputs:
  src: {type: stdin}
outputs:
  sink: {type: file, inputs: [src], path: $work/unused.ndjson}
EOF
# Profiles are written per process (%p) and merged below; the instrumented build scripts of
# dependencies wrote theirs into the same directory during step 1, which is harmless.
export LLVM_PROFILE_FILE="$profiles/sluice-%p-%m.profraw"
"$gen_bin" normalize -c "$work/enrich.yaml" "$work/mixed.log" -o /dev/null
"$gen_bin" normalize "$work/syslog.log" -o /dev/null
# The daemon's own paths too (file input and output, a syslog TCP input, batching, checkpoints):
# code that never ran in training is optimized as cold, for size. `sluice run` reads the mixed
# file and the syslog lines sent over TCP, until every record is out, then stops on SIGTERM.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -n '/^inputs:/q;p' "$work/enrich.yaml" > "$work/run.yaml"
cat >> "$work/run.yaml" <<EOF
inputs:
  tail: {type: file, include: [$work/mixed.log], read_from: beginning}
  tcp: {type: syslog, mode: tcp, listen: "127.0.0.1:$port"}
outputs:
  sink: {type: file, inputs: [tail, tcp], path: $work/run.ndjson}
EOF
"$gen_bin" run -c "$work/run.yaml" 2>"$work/run.log" &
run_pid=$!
python3 - "$port" "$work/syslog.log" <<'PY'
import socket, sys, time
for _ in range(300):
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("build-pgo: the syslog TCP input did not open")
with open(sys.argv[2], "rb") as f:
    s.sendall(f.read())
s.close()
PY
want=$((records + records / 2))
for _ in $(seq 1 600); do
  got=$(cat "$work"/run.ndjson* 2>/dev/null | wc -l)
  [ "$got" -ge "$want" ] && break
  sleep 0.2
done
kill -TERM "$run_pid"
status=0
wait "$run_pid" || status=$?
run_pid=
[ "$status" = 0 ] || { echo "build-pgo: sluice run failed:" >&2; cat "$work/run.log" >&2; exit 1; }
[ "$got" -ge "$want" ] || { echo "build-pgo: sluice run wrote $got of $want records" >&2; exit 1; }
unset LLVM_PROFILE_FILE
# Kept beside the binary: `RUSTFLAGS=-Cprofile-use=<it>` builds benchmarks with the same profile.
mkdir -p "$target/pgo"
"$profdata" merge -o "$target/pgo/sluice.profdata" "$profiles"

echo "build-pgo: 3/3 optimized build" >&2
RUSTFLAGS="${RUSTFLAGS:-} -Cprofile-use=$target/pgo/sluice.profdata" CARGO_TARGET_DIR="$target/pgo" \
  cargo build --release --locked --quiet --bin sluice
echo "$target/pgo/release/sluice"
