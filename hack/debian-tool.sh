#!/usr/bin/env bash
# Provides a server binary the tests and benchmarks run for real, from Debian's package when the
# machine lacks it, and prints its path:
#
#   hack/debian-tool.sh <command> <package> <path in the package> <environment variable>
#
# hack/prometheus.sh and hack/nginx.sh are this script with their arguments.
#
# Order: the environment variable when it names an executable, then <command> on PATH, then the
# package's path, then Debian's package installed with apt-get. Debian's package is used because
# these machines reach Debian's archive and no other download site.
#
# The package's maintainer scripts would start a service; there is no init system on these machines
# and each test or benchmark starts its own server with its own config, so a policy-rc.d that
# forbids starting services is put in place for the install (and removed afterwards when this
# script created it).
#
# Idempotent: a second run only looks the binary up. Progress goes to stderr; stdout is only the path.
set -euo pipefail

if [ "$#" -ne 4 ]; then
  echo "usage: $0 <command> <package> <path in the package> <environment variable>" >&2
  exit 2
fi
command_name=$1 package=$2 package_path=$3 env_name=$4

log() { printf '%s: %s\n' "${command_name}" "$*" >&2; }

override="${!env_name:-}"
if [ -n "${override}" ] && [ -x "${override}" ]; then
  echo "${override}"
  exit 0
fi
if p="$(command -v "${command_name}" 2>/dev/null)"; then
  echo "${p}"
  exit 0
fi
if [ -x "${package_path}" ]; then
  echo "${package_path}"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  log "no ${command_name} binary found and no apt-get to install one; install it and put it on PATH (or set ${env_name})"
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    log "installing Debian's ${package} package needs root; run this script as root or install ${command_name} yourself (or set ${env_name})"
    exit 1
  fi
fi

# Forbid service starts during the install (exit 101 is "action forbidden" for invoke-rc.d), unless
# the machine already has a policy, which is then left as it is.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "${policy}" ]; then
  printf '#!/bin/sh\n# Written by breakwater hack/debian-tool.sh for the duration of an install.\nexit 101\n' |
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

log "installing Debian's ${package} package (apt-get update, then apt-get install)"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q >&2
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${package}" >&2

if [ ! -x "${package_path}" ]; then
  log "apt-get install finished but ${package_path} is missing"
  exit 1
fi
log "installed Debian's ${package} package: ${package_path}"
echo "${package_path}"
