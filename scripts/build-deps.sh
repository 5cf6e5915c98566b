#!/usr/bin/env bash
# Installs what building Sluice needs beyond cargo, when it is missing: a C toolchain for the
# bundled librdkafka, zlib and zstd (the rdkafka crate's static build) and ring, and Debian's
# OpenSSL headers and static libraries (libssl-dev), which librdkafka's TLS is linked with
# (.cargo/config.toml: OPENSSL_STATIC; OpenSSL is no longer built from source, so no perl).
# Safe to run again; used by scripts/quickstart.sh and scripts/test-deps.sh.
set -euo pipefail
need=()
{ command -v cc && command -v c++ && command -v make; } >/dev/null 2>&1 || need+=(build-essential)
# The paths .cargo/config.toml gives openssl-sys: headers in /usr/include, libssl.a in the
# multiarch directory.
{ [ -f /usr/include/openssl/ssl.h ] && compgen -G '/usr/lib/*-linux-gnu/libssl.a' \
    && compgen -G '/usr/lib/*-linux-gnu/libcrypto.a'; } >/dev/null 2>&1 || need+=(libssl-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing build tools: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
