#!/usr/bin/env bash
# Provides an nginx binary for the guard benchmark (test/bench/guardbench), which measures the guard
# against nginx as a plain reverse proxy, and prints its path.
#
# Order: $NGINX when it names an executable, then `nginx` on PATH, then Debian's package
# (/usr/sbin/nginx), installed with apt-get when it is not there yet. Debian's package is used
# because the machines reach Debian's archive but no other download site.
#
# The package's maintainer scripts would start a service on port 80; there is no init system on these
# machines and the benchmark runs its own nginx in the foreground with its own config, so a
# policy-rc.d that forbids starting services is put in place for the install (and removed afterwards
# when this script created it).
#
# Idempotent: a second run only looks the binary up. Progress goes to stderr; stdout is only the path.
set -euo pipefail

log() { printf 'nginx: %s\n' "$*" >&2; }

if [ -n "${NGINX:-}" ] && [ -x "${NGINX}" ]; then
  echo "${NGINX}"
  exit 0
fi
if p="$(command -v nginx 2>/dev/null)"; then
  echo "${p}"
  exit 0
fi
if [ -x /usr/sbin/nginx ]; then
  echo /usr/sbin/nginx
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no nginx binary found and no apt-get to install one; install nginx and put it on PATH (or set NGINX)"
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    log "installing Debian's nginx package needs root; run this script as root or install nginx yourself"
    exit 1
  fi
fi

# Forbid service starts during the install (exit 101 is "action forbidden" for invoke-rc.d), unless
# the machine already has a policy, which is then left as it is.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "${policy}" ]; then
  printf '#!/bin/sh\n# Written by breakwater hack/nginx.sh for the duration of an install.\nexit 101\n' |
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

log "installing Debian's nginx package (apt-get update, then apt-get install)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
# nginx-light was folded into nginx in Debian 12; the plain package is the small one.
"${sudo[@]}" apt-get install -y -q --no-install-recommends nginx >&2

if [ ! -x /usr/sbin/nginx ]; then
  log "apt-get install finished but /usr/sbin/nginx is missing"
  exit 1
fi
log "installed $(/usr/sbin/nginx -v 2>&1 | head -n 1)"
echo /usr/sbin/nginx
