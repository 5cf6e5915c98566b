#!/usr/bin/env bash
# Builds Sluice and runs it on its embedded quick-start configuration: the samples in
# examples/samples are detected, normalized to ECS and written to ./out/<source_type>.ndjson.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo is required: install Rust from your distribution (apt-get install cargo) or rustup" >&2
  exit 1
fi
bash scripts/build-deps.sh
cargo build --release --locked
rm -rf ./out ./data/quickstart
"${CARGO_TARGET_DIR:-./target}/release/sluice" run
echo
echo "Normalized records:"
wc -l ./out/*.ndjson
echo
echo "First record of each file:"
for f in ./out/*.ndjson; do
  echo "== $f"
  head -n 1 "$f"
done
echo
echo "Enrichment (made-up example data from enrichment-data/, see README \"Enrichment\"):"
grep -ho '"geo":{"city_name":"[^"]*"' ./out/*.ndjson | sort | uniq -c || true
grep -ho '"indicator":{"type":"[^"]*","name":"[^"]*"' ./out/*.ndjson | sort | uniq -c || true
