#!/usr/bin/env bash
# Installs the tools the tests use, when they are missing. Safe to run again.
set -euo pipefail
need=()
command -v mkfifo >/dev/null 2>&1 || need+=(coreutils)
command -v curl >/dev/null 2>&1 || need+=(curl)   # HTTP and HEC input tests
command -v logger >/dev/null 2>&1 || need+=(bsdutils)   # syslog input tests (util-linux logger)
[ -x /usr/sbin/rsyslogd ] || [ -x /sbin/rsyslogd ] || need+=(rsyslog)   # syslog: omfwd to Sluice
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing tools: ${need[*]} (install them, or run as root)" >&2
    exit 1
  fi
fi
