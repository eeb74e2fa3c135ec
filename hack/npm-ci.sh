#!/usr/bin/env bash
# Installs the Node packages pinned by a folder's package.json and package-lock.json into bin/<name>
# with the machine's npm, and prints the node_modules folder:
#
#   hack/npm-ci.sh test/sdkjs sdkjs              # the Node SDKs test/sdkjs drives ($SDKJS_NODE_MODULES)
#   hack/npm-ci.sh test/bench/portkey portkey    # Portkey's gateway for `make bench`
#
# `npm ci` installs exactly the lock, with install scripts off. A stamp holding the lock's hash makes
# a second run only print the path; a changed lock reinstalls. Needs node (>= 20) and npm on PATH;
# the npm registry is the only download. Progress goes to stderr; stdout is only the path.
set -euo pipefail

if [ "$#" -ne 2 ]; then
  echo "usage: $0 <folder with package-lock.json> <name under bin/>" >&2
  exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)
src="${root}/$1"
name=$2
dst="${root}/bin/${name}"
log() { printf 'npm-ci %s: %s\n' "${name}" "$*" >&2; }

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
