#!/usr/bin/env bash
# Installs what building Sluice needs beyond cargo, when it is missing: a C toolchain and perl for
# the bundled librdkafka, OpenSSL, zlib and zstd (the rdkafka crate's static build) and ring.
# Safe to run again; used by scripts/quickstart.sh and scripts/test-deps.sh.
set -euo pipefail
need=()
{ command -v cc && command -v c++ && command -v make; } >/dev/null 2>&1 || need+=(build-essential)
perl -MFindBin -MFile::Compare -e1 >/dev/null 2>&1 || need+=(perl)   # OpenSSL's Configure
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing build tools: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
