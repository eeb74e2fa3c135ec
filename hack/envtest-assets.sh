#!/usr/bin/env bash
# Provides the control-plane binaries envtest starts (kube-apiserver, etcd, kubectl) and prints the
# folder that holds them, for KUBEBUILDER_ASSETS.
#
# First it tries the usual download (setup-envtest, for machines with internet). Where that fails it
# builds the binaries from the Go module proxy: kube-apiserver and kubectl from k8s.io/kubernetes with
# every staging module replaced by its published k8s.io/<name> v0.<minor>.<patch>, etcd from
# go.etcd.io/etcd/server/v3. About 5 minutes on 2 cores, once: the result is cached under
# bin/k8s/<version>-<os>-<arch>.
#
# Idempotent and safe to interrupt: everything is built in a temporary folder and moved into place
# in one rename only when all binaries are there. Progress goes to stderr; stdout is only the folder.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ETCD_VERSION:-3.6.16}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
DOWNLOAD_TIMEOUT="${DOWNLOAD_TIMEOUT:-60}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
goos="$(go env GOOS)"
goarch="$(go env GOARCH)"
dest="${root}/bin/k8s/${K8S_VERSION}-${goos}-${goarch}"
binaries=(kube-apiserver etcd kubectl)

log() { printf 'envtest-assets: %s\n' "$*" >&2; }

complete() {
  local dir="$1" b
  for b in "${binaries[@]}"; do
    [ -x "${dir}/${b}" ] || return 1
  done
}

if complete "${dest}"; then
  echo "${dest}"
  exit 0
fi

mkdir -p "${root}/bin/k8s"
work="$(mktemp -d "${root}/bin/k8s/.partial-XXXXXX")"
trap 'rm -rf "${work}"' EXIT

try_download() {
  log "trying the usual download of Kubernetes ${K8S_VERSION} (setup-envtest ${SETUP_ENVTEST_VERSION}, ${DOWNLOAD_TIMEOUT}s at most)"
  local out
  if ! out="$(timeout "${DOWNLOAD_TIMEOUT}" go run "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" \
      use "${K8S_VERSION}" --bin-dir "${work}/download" -p path 2>"${work}/download.log")"; then
    log "download failed ($(tail -n 1 "${work}/download.log" 2>/dev/null || echo 'no output')); building from the Go module proxy instead"
    return 1
  fi
  cp "${out}"/* "${work}/out/"
  echo "downloaded by setup-envtest ${SETUP_ENVTEST_VERSION}" >"${work}/out/SOURCE"
  complete "${work}/out"
}

build_kubernetes() {
  local mod="${work}/kubernetes" gomod
  mkdir -p "${mod}"
  log "fetching k8s.io/kubernetes v${K8S_VERSION} module metadata"
  gomod="$(cd "${mod}" && GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  {
    echo "module breakwater.dev/envtest-kubernetes"
    echo
    echo "go $(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')"
    echo
    echo "require k8s.io/kubernetes v${K8S_VERSION}"
    echo
    # Every staging module that k8s.io/kubernetes replaces with a local folder is published on its
    # own as k8s.io/<name> v0.<minor>.<patch>.
    sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#replace \1 => \1 v0.'"${K8S_VERSION#1.}"'#p' "${gomod}"
  } >"${mod}/go.mod"
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v${K8S_VERSION}"
  ldflags+=" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "${K8S_VERSION}" | cut -d. -f2)"
  log "building kube-apiserver and kubectl v${K8S_VERSION} (about 5 minutes on 2 cores)"
  (cd "${mod}" && GOFLAGS=-mod=mod go build -ldflags "${ldflags}" -o "${work}/out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl)
}

build_etcd() {
  local mod="${work}/etcd"
  mkdir -p "${mod}"
  printf 'module breakwater.dev/envtest-etcd\n\ngo %s\n\nrequire go.etcd.io/etcd/server/v3 v%s\n' \
    "$(go env GOVERSION | sed 's/^go//; s/\([0-9]*\.[0-9]*\).*/\1/')" "${ETCD_VERSION}" >"${mod}/go.mod"
  log "building etcd v${ETCD_VERSION}"
  (cd "${mod}" && GOFLAGS=-mod=mod go build -ldflags "-s -w" -o "${work}/out/etcd" go.etcd.io/etcd/server/v3)
}

mkdir -p "${work}/out"
if ! try_download; then
  rm -f "${work}/out"/*
  build_etcd
  build_kubernetes
  echo "built from the Go module proxy: kubernetes v${K8S_VERSION}, etcd v${ETCD_VERSION}" >"${work}/out/SOURCE"
fi
complete "${work}/out" || { log "missing binaries in ${work}/out"; exit 1; }

rm -rf "${dest}"
mv "${work}/out" "${dest}"
log "ready: ${dest}"
echo "${dest}"
