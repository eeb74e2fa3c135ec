#!/usr/bin/env bash
# Fails when the generated files in the tree (CRDs, RBAC, webhook manifests, DeepCopy methods) are not
# what `make manifests generate` writes from the current sources. It regenerates them in place, so after
# a failure the tree holds the right files: review and commit them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

generated() {
  find config/crd/bases config/rbac config/webhook api -type f \
    \( -name '*.yaml' -o -name 'zz_generated*.go' \) 2>/dev/null | LC_ALL=C sort | xargs -r sha256sum
}

before="$(generated)"
make --no-print-directory manifests generate >/dev/null
after="$(generated)"
if [ "${before}" != "${after}" ]; then
  echo "generated files were stale; they have been regenerated, review and commit them:" >&2
  diff <(echo "${before}") <(echo "${after}") >&2 || true
  exit 1
fi
echo "generated files are current"
