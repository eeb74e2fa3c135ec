#!/usr/bin/env bash
# Builds every kustomize entry point (the default install, the cert-manager variant and the samples)
# with the envtest kubectl, so a broken overlay fails `make test` rather than a user's deploy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kubectl="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
"${kubectl}" kustomize config/default >"${tmp}/default.yaml"
"${kubectl}" kustomize config/samples >"${tmp}/samples.yaml"
cp -r config "${tmp}/"
printf 'components:\n  - ../certmanager\n' >>"${tmp}/config/default/kustomization.yaml"
"${kubectl}" kustomize "${tmp}/config/default" >"${tmp}/certmanager.yaml"
grep -q 'cert-manager.io/inject-ca-from' "${tmp}/certmanager.yaml"
echo "kustomize: config/default, config/samples and the cert-manager variant build"
