# Ballast's build. Every target works on a fresh machine: the Go toolchain pinned in
# go.mod is downloaded through the module proxy, tools are pinned in hack/tools/go.mod,
# and the control-plane binaries for tests are built once and cached outside the repo.

# The environment may set GOTOOLCHAIN=local; the module needs the pinned toolchain.
export GOTOOLCHAIN := go1.27.4
export GOFLAGS := -mod=mod

GO ?= go
TOOL := $(GO) tool -modfile=hack/tools/go.mod
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/ballast-dev/ballast/cmd/ballast/app.version=$(VERSION)
CACHE_DIR ?= $(or $(BALLAST_CACHE_DIR),$(XDG_CACHE_HOME),$(HOME)/.cache)/ballast
TEST_FLAGS ?=
DEV_FLAGS ?=
# The end-to-end suites start a whole cluster; give go test room beyond its 10m default.
TEST_TIMEOUT ?= 30m

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/ballast.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/ballast ./cmd/ballast

.PHONY: dev
dev: build ## Run the whole product on this machine (cluster, Karpenter, Git, the controller) and watch it; DEV_FLAGS="--scenario spot-outage".
	$(BIN)/ballast dev $(DEV_FLAGS)

.PHONY: demo
demo: build ## Validate and render the example policy repository.
	$(BIN)/ballast validate examples/policies
	$(BIN)/ballast render examples/policies

##@ Test

# envtest binaries: a KUBEBUILDER_ASSETS the user set wins; otherwise hack/controlplane.sh
# builds etcd and kube-apiserver once into $(CACHE_DIR) and prints their directory.
.PHONY: test
test: ## Run every test: envtest suites and the whole-cluster e2e suites (builds binaries once).
	@assets="$${KUBEBUILDER_ASSETS:-$$(hack/controlplane.sh etcd kube-apiserver)}" && \
	hack/controlplane.sh etcd kube-apiserver kube-controller-manager kube-scheduler kwok >/dev/null && \
	hack/gitea.sh >/dev/null && \
	echo "KUBEBUILDER_ASSETS=$$assets" && \
	KUBEBUILDER_ASSETS="$$assets" $(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane or Gitea.
	$(GO) test ./policies/ ./render/ ./plan/ ./cost/ ./gitsync/...

.PHONY: e2e
e2e: ## Run only the whole-cluster end-to-end suites.
	$(GO) test -timeout $(TEST_TIMEOUT) -v ./test/e2e/... ./test/dev/...

.PHONY: bench
bench: ## Run the benchmarks.
	$(GO) test -run '^$$' -bench . -benchmem ./...

.PHONY: fuzz
fuzz: ## Fuzz the policy loader for a minute.
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./policies

##@ Code generation

.PHONY: generate
generate: ## Generate deepcopy functions.
	$(TOOL) controller-gen object paths=./policies/...

.PHONY: manifests
manifests: ## Generate CRDs, RBAC and the webhook configuration into config/ and copy the CRDs to the chart.
	$(TOOL) controller-gen crd paths=./policies/... output:crd:artifacts:config=config/crd/bases
	$(TOOL) controller-gen rbac:roleName=manager-role webhook paths=./controllers/... output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	mkdir -p charts/ballast/crds && cp config/crd/bases/*.yaml charts/ballast/crds/

.PHONY: verify
verify: generate manifests ## Regenerate everything and fail when the tree changes.
	@# -e: the module proxy refuses a few test-only dependencies of our dependencies
	@# (e.g. aws-sdk-go-v2/service/timestreamwrite); tidy still settles go.mod.
	@$(GO) mod tidy -e >/dev/null 2>&1
	@git diff --exit-code -- . ':!go.sum' || { echo "generated files are stale: run make generate manifests and commit"; exit 1; }
	@test -z "$$(git status --porcelain --untracked-files=all -- config charts policies)" || { git status --porcelain -- config charts policies; echo "untracked generated files"; exit 1; }

.PHONY: lint
lint: ## Run golangci-lint (pinned in hack/tools).
	$(TOOL) golangci-lint run ./...

.PHONY: clean
clean: ## Remove build output (the control-plane cache stays).
	rm -rf $(BIN)

##@ Release

# The version stamp reaches hack/release.sh through the environment, whatever its quoting.
# (The script runs `make image` itself: a $(MAKE) here would run it even under make -n.)
.PHONY: release
release: export LDFLAGS := $(LDFLAGS)
release: ## Build release VERSION=x.y.z into dist/release/x.y.z (install.yaml, chart, images, binaries, SHA256SUMS, notes).
	GO="$(GO)" hack/release.sh "$(VERSION)"
