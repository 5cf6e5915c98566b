#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and integration tests (the real binary, real
# files, real signals), then the packaging checks on a release build (the container root and the
# Debian package). Installs what the tests need on a fresh machine first.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
bash scripts/test-deps.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --all-targets --locked
bash scripts/check-packaging.sh
