#!/usr/bin/env bash
# Builds every kustomize entry point (the default install, the cert-manager variant, the samples, the
# production overlays, the monitoring and dashboard kustomizations) with the envtest kubectl, and
# checks what each overlay promises, so a broken overlay fails `make test` rather than a user's deploy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
kubectl="$1"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT

fail() {
  echo "kustomize: $*" >&2
  exit 1
}

"${kubectl}" kustomize config/default >"${tmp}/default.yaml"
"${kubectl}" kustomize config/samples >"${tmp}/samples.yaml"
cp -r config "${tmp}/"
printf 'components:\n  - ../certmanager\n' >>"${tmp}/config/default/kustomization.yaml"
"${kubectl}" kustomize "${tmp}/config/default" >"${tmp}/certmanager.yaml"
grep -q 'cert-manager.io/inject-ca-from' "${tmp}/certmanager.yaml"

# The production overlay: its namespace everywhere (no breakwater-system left, the webhook's exclusion
# included), its image on the manager and in BREAKWATER_GUARD_IMAGE, its flags and replicas.
prod="${tmp}/production.yaml"
"${kubectl}" kustomize config/overlays/production >"${prod}"
if grep -q 'breakwater-system' "${prod}"; then
  fail "config/overlays/production still names breakwater-system: $(grep -n 'breakwater-system' "${prod}" | head -3)"
fi
image='registry.example.com/platform/breakwater:v0.1.0'
grep -q "^        image: ${image}$" "${prod}" || fail "production: the manager's image is not ${image}"
grep -A1 'name: BREAKWATER_GUARD_IMAGE' "${prod}" | grep -q "value: ${image}$" ||
  fail "production: BREAKWATER_GUARD_IMAGE is not the manager's image ${image}"
for arg in --leader-elect --prometheus-url= --evaluation-interval=; do
  grep -q -- "- ${arg}" "${prod}" || fail "production: the manager has no ${arg} flag"
done
grep -q '^  replicas: 3$' "${prod}" || fail "production: the manager does not run 3 replicas"
grep -q '^kind: PodDisruptionBudget$' "${prod}" || fail "production: no PodDisruptionBudget"
grep -A4 'key: kubernetes.io/metadata.name' "${prod}" | grep -q -- '- breakwater-prod$' ||
  fail "production: the webhook does not exclude the manager's namespace breakwater-prod"

# With cert-manager: the Issuer and Certificate in the overlay's namespace, for the webhook Service
# there, and the CA injected from that Certificate.
cm="${tmp}/production-cert-manager.yaml"
"${kubectl}" kustomize config/overlays/production-cert-manager >"${cm}"
if grep -q 'breakwater-system' "${cm}"; then
  fail "config/overlays/production-cert-manager still names breakwater-system: $(grep -n 'breakwater-system' "${cm}" | head -3)"
fi
grep -q 'cert-manager.io/inject-ca-from: breakwater-prod/serving-cert$' "${cm}" ||
  fail "production-cert-manager: the webhook's inject-ca-from is not breakwater-prod/serving-cert"
grep -q -- '- breakwater-webhook-service.breakwater-prod.svc$' "${cm}" ||
  fail "production-cert-manager: the Certificate is not for breakwater-webhook-service.breakwater-prod.svc"
grep -q -- '- --webhook-cert-management=external$' "${cm}" ||
  fail "production-cert-manager: the manager does not leave its certificate to cert-manager"

# docs/install.md's example of an overlay of your own.
mkdir -p "${tmp}/own/deploy/breakwater"
cp -r config "${tmp}/own/"
cat >"${tmp}/own/deploy/breakwater/kustomization.yaml" <<'OVERLAY'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../config/overlays/production
patches:
  - target: {kind: Deployment, name: breakwater-controller-manager}
    patch: |
      - op: add
        path: /spec/template/spec/containers/0/args/-
        value: --zap-log-level=debug
      - op: replace
        path: /spec/replicas
        value: 2
OVERLAY
"${kubectl}" kustomize "${tmp}/own/deploy/breakwater" | grep -q -- '- --zap-log-level=debug$' ||
  fail "docs/install.md's own overlay does not build"

# Monitoring (Prometheus Operator objects) and the Grafana dashboard ConfigMap.
mon="${tmp}/prometheus.yaml"
"${kubectl}" kustomize config/prometheus >"${mon}"
for kind in PrometheusRule PodMonitor ServiceMonitor ClusterRoleBinding; do
  grep -q "^kind: ${kind}$" "${mon}" || fail "config/prometheus has no ${kind}"
done
# docs/install.md's example overlay of config/prometheus for kube-prometheus-stack.
mkdir -p "${tmp}/own/deploy/monitoring"
cat >"${tmp}/own/deploy/monitoring/kustomization.yaml" <<'OVERLAY'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../config/prometheus
namespace: breakwater-prod
labels:
  - pairs: {release: monitoring}
patches:
  - target: {kind: ClusterRoleBinding, name: breakwater-prometheus-metrics-reader}
    patch: |
      - op: replace
        path: /subjects/0/name
        value: monitoring-kube-prometheus-prometheus
OVERLAY
"${kubectl}" kustomize "${tmp}/own/deploy/monitoring" >"${tmp}/own-monitoring.yaml"
grep -q 'name: monitoring-kube-prometheus-prometheus$' "${tmp}/own-monitoring.yaml" &&
  [ "$(grep -c '^    release: monitoring$' "${tmp}/own-monitoring.yaml")" -eq 4 ] ||
  fail "docs/install.md's monitoring overlay does not build as described"
dash="${tmp}/grafana.yaml"
"${kubectl}" kustomize config/grafana >"${dash}"
grep -q 'grafana_dashboard: "1"' "${dash}" || fail "config/grafana: the ConfigMap lacks the grafana_dashboard label"
grep -q '"uid": "breakwater-overview"' "${dash}" || fail "config/grafana: the ConfigMap does not hold the dashboard"

echo "kustomize: config/default, config/samples, the cert-manager variant, config/overlays/production," \
  "config/overlays/production-cert-manager, config/prometheus and config/grafana build"
