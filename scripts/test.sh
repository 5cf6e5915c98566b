#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the real binary, real
# files, real signals, a real Kafka broker), then the packaging checks on a release build (the
# container root and the Debian package). Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
# tansu (the Kafka tests' broker) is built in the background while Sluice builds; the Kafka
# tests wait for it (scripts/install-tansu.sh holds a lock) and fail if it cannot be installed.
SLUICE_TANSU_LATER=1 bash scripts/test-deps.sh
tansu_log=$(mktemp)
bash scripts/install-tansu.sh >"$tansu_log" 2>&1 &
tansu=$!
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked --no-run
# The release build of the packaging checks, while tansu is still building: on a fresh 2-core
# machine the tests waited 5.5 minutes for it with nothing else to do (1,807 s in all).
cargo build --release --locked --bin sluice
if ! wait "$tansu"; then
  cat "$tansu_log" >&2
  echo "installing tansu failed: the Kafka tests cannot run" >&2
  exit 1
fi
rm -f "$tansu_log"
cargo test --all-targets --locked
bash scripts/check-packaging.sh
