#!/usr/bin/env bash
# Provides a Prometheus server binary for the PromQL source's tests (internal/promsource) and prints
# its path.
#
# Order: $PROMETHEUS when it names an executable, then `prometheus` on PATH, then Debian's package
# (/usr/bin/prometheus), installed with apt-get when it is not there yet. Debian's package is used
# because the machines reach Debian's archive but no other download site.
#
# The package's maintainer scripts would start a service; there is no init system on these machines
# and a test must start its own server, so a policy-rc.d that forbids starting services is put in
# place for the install (and removed afterwards when this script created it).
#
# Idempotent: a second run only looks the binary up. Progress goes to stderr; stdout is only the path.
set -euo pipefail

log() { printf 'prometheus: %s\n' "$*" >&2; }

if [ -n "${PROMETHEUS:-}" ] && [ -x "${PROMETHEUS}" ]; then
  echo "${PROMETHEUS}"
  exit 0
fi
if p="$(command -v prometheus 2>/dev/null)"; then
  echo "${p}"
  exit 0
fi
if [ -x /usr/bin/prometheus ]; then
  echo /usr/bin/prometheus
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no prometheus binary found and no apt-get to install one; install Prometheus 2.x and put it on PATH (or set PROMETHEUS)"
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    log "installing Debian's prometheus package needs root; run this script as root or install Prometheus yourself"
    exit 1
  fi
fi

# Forbid service starts during the install (exit 101 is "action forbidden" for invoke-rc.d), unless
# the machine already has a policy, which is then left as it is.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "${policy}" ]; then
  printf '#!/bin/sh\n# Written by breakwater hack/prometheus.sh for the duration of an install.\nexit 101\n' |
    "${sudo[@]}" tee "${policy}" >/dev/null
  "${sudo[@]}" chmod 0755 "${policy}"
  created_policy=1
fi
cleanup() {
  if [ "${created_policy}" -eq 1 ]; then
    "${sudo[@]}" rm -f "${policy}"
  fi
}
trap cleanup EXIT

log "installing Debian's prometheus package (apt-get update, then apt-get install)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
"${sudo[@]}" apt-get install -y -q --no-install-recommends prometheus >&2

if [ ! -x /usr/bin/prometheus ]; then
  log "apt-get install finished but /usr/bin/prometheus is missing"
  exit 1
fi
log "installed $(/usr/bin/prometheus --version 2>&1 | head -n 1)"
echo /usr/bin/prometheus
