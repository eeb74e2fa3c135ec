#!/usr/bin/env bash
# Installs the Node SDKs that test/sdkjs drives through a real guard (test/sdkjs/package.json,
# exact versions pinned by its package-lock.json) into bin/sdkjs with the machine's npm, and prints
# the node_modules folder (the tests read it from $SDKJS_NODE_MODULES).
#
# `npm ci` installs exactly the lock. A stamp holding the lock's hash makes a second run only
# print the path; a changed lock reinstalls. Needs node (>= 20) and npm on PATH; the npm registry
# is the only download. Progress goes to stderr; stdout is only the path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src="${root}/test/sdkjs"
dst="${root}/bin/sdkjs"
log() { printf 'node-sdks: %s\n' "$*" >&2; }

for tool in node npm; do
  if ! command -v "${tool}" >/dev/null; then
    log "${tool} is not on PATH; install Node.js 20 or later (Debian: apt-get install nodejs npm)"
    exit 1
  fi
done

want=$(sha256sum "${src}/package-lock.json" | cut -d' ' -f1)
if [ -f "${dst}/.stamp" ] && [ "$(cat "${dst}/.stamp")" = "${want}" ] && [ -d "${dst}/node_modules" ]; then
  echo "${dst}/node_modules"
  exit 0
fi

log "installing $(node -e 'const p=require(process.argv[1]);console.log(Object.entries(p.dependencies).map(([k,v])=>k+"@"+v).join(" "))' "${src}/package.json") with node $(node --version)"
rm -rf "${dst}"
mkdir -p "${dst}"
cp "${src}/package.json" "${src}/package-lock.json" "${dst}/"
(cd "${dst}" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >&2)
echo "${want}" > "${dst}/.stamp"
echo "${dst}/node_modules"
