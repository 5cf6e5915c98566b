#!/usr/bin/env bash
# Installs the tools the tests use, when they are missing. Safe to run again.
set -euo pipefail
# What building Sluice needs (C toolchain, libssl-dev).
bash "$(dirname "$0")/build-deps.sh"
need=()
command -v mkfifo >/dev/null 2>&1 || need+=(coreutils)
command -v curl >/dev/null 2>&1 || need+=(curl)   # HTTP and HEC input tests
command -v logger >/dev/null 2>&1 || need+=(bsdutils)   # syslog input tests (util-linux logger)
[ -x /usr/sbin/rsyslogd ] || [ -x /sbin/rsyslogd ] || need+=(rsyslog)   # syslog: omfwd to Sluice
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)   # packaging: verify the unit
command -v promtool >/dev/null 2>&1 || need+=(prometheus)   # packaging: check and test the alerts
command -v chromium >/dev/null 2>&1 || need+=(chromium)   # the status page in a headless browser
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg)   # packaging: inspect and install the .deb
command -v unshare >/dev/null 2>&1 || need+=(util-linux)   # packaging: the container root's netns
command -v prlimit >/dev/null 2>&1 || need+=(util-linux)   # syslog: a listener out of file descriptors
command -v flock >/dev/null 2>&1 || need+=(util-linux)   # scripts/install-tansu.sh
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v useradd >/dev/null 2>&1 || need+=(passwd)   # the .deb's postinst in a throwaway root
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "missing tools: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
# cargo-deb builds the Debian package (scripts/check-packaging.sh); from crates.io, pinned.
if ! command -v cargo-deb >/dev/null 2>&1; then
  cargo install cargo-deb --version 3.8.0 --locked --quiet
fi
# The Kafka tests' broker: tansu, built once with cargo into ~/.cache/sluice-tools (a no-op
# afterwards). scripts/test.sh sets SLUICE_TANSU_LATER=1 and builds it in the background instead.
if [ "${SLUICE_TANSU_LATER:-}" != 1 ]; then
  bash "$(dirname "$0")/install-tansu.sh"
fi
