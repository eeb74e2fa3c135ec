# Breakwater: `make help` lists the targets. Tools are pinned and installed under bin/ on first use.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec
.DEFAULT_GOAL := help

BIN ?= $(CURDIR)/bin
CONTROLLER_TOOLS_VERSION ?= v0.23.0
CONTROLLER_GEN ?= $(BIN)/controller-gen-$(CONTROLLER_TOOLS_VERSION)
HELM_VERSION ?= v3.22.0
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(BIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
HELM ?= $(BIN)/helm-$(HELM_VERSION)
# What helm's own Makefile stamps in: its version, and the Kubernetes version it assumes without a
# cluster (`helm template`, `helm lint`), that of the client-go it links (v0.37 for helm v3.22.0).
HELM_LDFLAGS ?= -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach p,pkg/chartutil pkg/lint/rules,-X helm.sh/helm/v3/$(p).k8sVersionMajor=1 -X helm.sh/helm/v3/$(p).k8sVersionMinor=37)
# Control-plane versions for envtest; hack/envtest-assets.sh downloads or builds them once.
K8S_VERSION ?= 1.37.2
ETCD_VERSION ?= 3.6.16
IMG ?= ghcr.io/breakwater-dev/breakwater:dev
GO_TEST_FLAGS ?= -race -count=1
KUBECONFIG ?= $(HOME)/.kube/config

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs (config/crd/bases, copied into charts/breakwater/crds) and the manager's ClusterRole (config/rbac) from markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/..." paths="./controllers/..." paths="./internal/webhook/..." paths="./internal/manager/..." \
		output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	rm -f charts/breakwater/crds/*.yaml && cp config/crd/bases/*.yaml charts/breakwater/crds/

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate DeepCopy methods of the API types.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: verify-generated
verify-generated: ## Fail when the committed generated files are not what `make manifests generate` writes.
	CONTROLLER_GEN="$(CONTROLLER_GEN)" hack/verify-generated.sh

.PHONY: fmt
fmt: ## Run gofmt on every Go file.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet and fail on unformatted files.
	@unformatted=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted (run make fmt)"; exit 1; fi
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (pinned; the linters and why in .golangci.yml).
	$(GOLANGCI_LINT) run ./...

.PHONY: envtest
envtest: ## Provide kube-apiserver, etcd and kubectl for envtest under bin/k8s (downloads, or builds them once).
	@K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh >/dev/null

.PHONY: test
test: verify-generated vet lint envtest $(HELM) ## Run every test: lint, unit, envtest (real kube-apiserver + etcd), real Prometheus and Redis, the Node SDKs through a real guard, kustomize builds, the Helm chart, the image.
	@set -e; export HELM="$(HELM)"; assets=$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh); \
	prometheus=$$(hack/prometheus.sh); export PROMETHEUS="$$prometheus"; echo "PROMETHEUS=$$PROMETHEUS"; \
	redis=$$(hack/redis.sh); export REDIS_SERVER="$$redis"; echo "REDIS_SERVER=$$REDIS_SERVER"; \
	sdkjs=$$(hack/npm-ci.sh test/sdkjs sdkjs); export SDKJS_NODE_MODULES="$$sdkjs"; echo "SDKJS_NODE_MODULES=$$SDKJS_NODE_MODULES"; \
	hack/verify-kustomize.sh "$$assets/kubectl"; \
	echo "KUBEBUILDER_ASSETS=$$assets"; \
	KUBEBUILDER_ASSETS="$$assets" go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v -e '/test/e2e$$' -e '/test/admission$$') && \
	echo "Allocation tests (without the race detector, which allocates on its own):" && \
	go test -count=1 -run 'Allocs' ./internal/guard/... && \
	echo "End-to-end suite (alone, so that the rest of the suite does not starve its load generators):" && \
	KUBEBUILDER_ASSETS="$$assets" go test $(GO_TEST_FLAGS) -timeout 20m ./test/e2e/ && \
	echo "Fleet-wide admission (10 guard processes, Redis, the provider quota; alone, for the same reason):" && \
	go test $(GO_TEST_FLAGS) -timeout 10m ./test/admission/ && \
	echo "Benchmark smoke run (every figure produced; the values mean nothing here):" && \
	$(MAKE) --no-print-directory bench BENCH_SHORT=1

##@ Build

.PHONY: build
build: ## Build the manager and guard binaries into bin/.
	go build -o $(BIN)/manager ./cmd/manager
	go build -o $(BIN)/guard ./cmd/guard

.PHONY: run
run: manifests generate ## Run the manager against the current kubeconfig (install the CRDs first: make install).
	go run ./cmd/manager --leader-elect=false --health-probe-bind-address=:8081 --metrics-bind-address=:8443

.PHONY: dev-cluster
dev-cluster: envtest ## Run a local control plane (no cluster needed) with the CRDs and webhook; prints the manager's flags.
	KUBEBUILDER_ASSETS="$$(hack/envtest-assets.sh)" go run ./hack/devcluster

.PHONY: image
image: ## Build the image $(IMG) without a Docker engine into the OCI layout bin/image/oci (docs/install.md#the-image).
	go run ./hack/image -out $(BIN)/image/oci -ref $(IMG)

.PHONY: docker-build
docker-build: ## Build the container image with a Docker engine (the same layout as `make image`).
	docker build -t $(IMG) .

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint and render the Helm chart charts/breakwater (test/chart does more).
	$(HELM) lint --strict charts/breakwater
	$(HELM) template breakwater charts/breakwater --namespace breakwater-system >/dev/null

##@ Deployment

.PHONY: install
install: manifests envtest ## Install the CRDs into the cluster of the current kubeconfig.
	"$$(hack/envtest-assets.sh)/kubectl" apply --server-side -k config/crd

.PHONY: uninstall
uninstall: envtest ## Remove the CRDs (and every Breakwater object) from the cluster.
	"$$(hack/envtest-assets.sh)/kubectl" delete --ignore-not-found -k config/crd

.PHONY: deploy
deploy: manifests envtest ## Deploy the manager to the cluster of the current kubeconfig, with image $(IMG).
	kubectl="$$(hack/envtest-assets.sh)/kubectl"; img='$(IMG)'; dir=$$(mktemp -d); cp -r config "$$dir/"; \
	sed -i "s#newName: .*#newName: $${img%:*}#; s#newTag: .*#newTag: $${img##*:}#" "$$dir/config/manager/kustomization.yaml"; \
	"$$kubectl" apply --server-side -k "$$dir/config/default"; rm -rf "$$dir"

.PHONY: undeploy
undeploy: envtest ## Remove the manager from the cluster.
	"$$(hack/envtest-assets.sh)/kubectl" delete --ignore-not-found -k config/default

.PHONY: bench
bench: ## Measure the guard and the manager against same-run baselines; writes bin/bench.json (docs/benchmarks.md). BENCH_SHORT=1: smoke run.
	@set -e; assets=$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh); \
	prometheus=$$(hack/prometheus.sh); redis=$$(hack/redis.sh); \
	KUBEBUILDER_ASSETS="$$assets" PROMETHEUS="$$prometheus" REDIS_SERVER="$$redis" go run ./test/bench/cmd/bench $(if $(BENCH_SHORT),-short) $(BENCH_ARGS)

.PHONY: demo
demo: ## Run the whole system on this machine and play the incident story (docs/demo.md); DEMO_ARGS=--keep-running keeps it up.
	@assets=$$(K8S_VERSION=$(K8S_VERSION) ETCD_VERSION=$(ETCD_VERSION) hack/envtest-assets.sh); \
	prometheus=$$(hack/prometheus.sh); \
	KUBEBUILDER_ASSETS="$$assets" PROMETHEUS="$$prometheus" go run ./hack/demo $(DEMO_ARGS)

##@ Tools

$(CONTROLLER_GEN):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.controller-gen-tmp go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)
	mv $(BIN)/.controller-gen-tmp/controller-gen $@ && rm -rf $(BIN)/.controller-gen-tmp

$(GOLANGCI_LINT):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.golangci-lint-tmp go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(BIN)/.golangci-lint-tmp/golangci-lint $@ && rm -rf $(BIN)/.golangci-lint-tmp

$(HELM):
	@mkdir -p $(BIN)
	GOBIN=$(BIN)/.helm-tmp go install -trimpath -ldflags '$(HELM_LDFLAGS)' helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv $(BIN)/.helm-tmp/helm $@ && rm -rf $(BIN)/.helm-tmp
