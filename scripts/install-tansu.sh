#!/usr/bin/env bash
# Installs tansu, the Kafka broker of the Kafka tests, with ../shared/tools/kafka-broker.sh when it
# is missing (a no-op afterwards). Built with a cheaper release profile than tansu's own (it only
# serves tests): see the figures in the commit that added this. Callers running at once (the
# background install of scripts/test.sh and the tests themselves) wait for the one that builds.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
broker=$here/../../shared/tools/kafka-broker.sh
if [ ! -f "$broker" ]; then
  echo "$broker not found: the Kafka tests need ../shared beside the repository" >&2
  exit 1
fi
tools=${SLUICE_TOOLS:-$HOME/.cache/sluice-tools}
mkdir -p "$tools"
exec 9>"$tools/.install.lock"
flock 9
export CARGO_PROFILE_RELEASE_OPT_LEVEL=${CARGO_PROFILE_RELEASE_OPT_LEVEL:-1}
export CARGO_PROFILE_RELEASE_LTO=${CARGO_PROFILE_RELEASE_LTO:-false}
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS=${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-256}
export CARGO_PROFILE_RELEASE_DEBUG=${CARGO_PROFILE_RELEASE_DEBUG:-false}
# Its own target directory, not the caller's CARGO_TARGET_DIR (whose lock a build holds).
unset CARGO_TARGET_DIR
bash "$broker" install
