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
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit time, never the time of the build: one commit always builds the same bytes.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
APP := github.com/ballast-dev/ballast/cmd/ballast/app
LDFLAGS := -s -w -X $(APP).version=$(VERSION) -X $(APP).commit=$(COMMIT) -X $(APP).date=$(SOURCE_DATE_EPOCH)
# Static (no cgo: the image has no C library, and cgo would make the linker keep every
# exported method because kustomize imports "plugin"), no local paths, no symbol table or
# DWARF: the flags Flux builds its controllers with. Same commit, same flags, same bytes.
GOBUILD := CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)"
# Release outputs (gitignored): $(DIST)/bin/ballast-<os>-<arch> and $(DIST)/image/.
DIST ?= dist
PLATFORMS ?= linux/amd64 linux/arm64
IMAGE ?= ghcr.io/ballast-dev/ballast
CACHE_DIR ?= $(or $(BALLAST_CACHE_DIR),$(XDG_CACHE_HOME),$(HOME)/.cache)/ballast
TEST_FLAGS ?=
DEV_FLAGS ?=
# The end-to-end suites start a whole cluster; give go test room beyond its 10m default.
TEST_TIMEOUT ?= 30m
# The whole-cluster suites spend minutes waiting on Karpenter and the runtime's timers
# at about a third of a core each, yet in one go test each would hold one of its -p
# slots (one per core), which building and running every other package needs too. So
# make test runs them in go tests of their own, side by side, beside a go test of
# every other package. The longest (LONGEST_SUITE, about 10 minutes) decides how long
# make test takes: it runs at normal priority, everything else at a lower one (nice),
# on the processor time it leaves. TEST_PACKAGES=... runs just those packages, in one
# go test.
LONGEST_SUITE ?= ./test/e2e/
CLUSTER_SUITES ?= ./test/savings/ ./test/dev/
TEST_PACKAGES ?=

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-12s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Build

.PHONY: build
build: ## Build bin/ballast (static and stripped, as released).
	$(GOBUILD) -o $(BIN)/ballast ./cmd/ballast

.PHONY: binaries
binaries: ## Build dist/bin/ballast-<os>-<arch> for PLATFORMS (linux/amd64 linux/arm64), one after the other.
	@for p in $(PLATFORMS); do \
		out=$(DIST)/bin/ballast-$${p%/*}-$${p#*/} && echo "$$out" && \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GOBUILD) -o "$$out" ./cmd/ballast || exit 1; \
	done

.PHONY: image
image: binaries ## Write the multi-arch OCI image to dist/image (no Docker needed; IMAGE=...) and print its digest.
	$(GO) run ./hack/image -out $(DIST)/image -image $(IMAGE) -version $(VERSION) -revision $(COMMIT) \
		-created $(SOURCE_DATE_EPOCH) $(foreach p,$(PLATFORMS),$(p)=$(DIST)/bin/ballast-$(subst /,-,$(p)))

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
	hack/helm.sh >/dev/null && \
	echo "KUBEBUILDER_ASSETS=$$assets" && \
	export KUBEBUILDER_ASSETS="$$assets" && \
	if [ -n "$(TEST_PACKAGES)" ]; then exec $(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(TEST_PACKAGES); fi && \
	whole="$$($(GO) list $(LONGEST_SUITE) $(CLUSTER_SUITES))" && \
	others="$$($(GO) list ./... | grep -vxF "$$whole")" && \
	{ $(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(LONGEST_SUITE) & longest=$$!; } && \
	{ nice $(GO) test -p $(words $(CLUSTER_SUITES)) -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $(CLUSTER_SUITES) & suites=$$!; } && \
	rc=0 && { nice $(GO) test -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) $$others || rc=1; } && \
	{ wait $$suites || rc=1; } && { wait $$longest || rc=1; } && exit $$rc

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane or Gitea.
	$(GO) test ./policies/ ./render/ ./plan/ ./cost/ ./gitsync/...

.PHONY: e2e
e2e: ## Run only the whole-cluster end-to-end suites.
	$(GO) test -timeout $(TEST_TIMEOUT) -v ./test/e2e/... ./test/dev/... ./test/savings/... ./test/charte2e/...

BENCH_OUT ?= bench.txt
.PHONY: bench
bench: ## Run the benchmarks and print every figure as one table (raw output in BENCH_OUT, for benchstat).
	@bash -o pipefail -c "$(GO) test -run '^$$' -bench . -benchmem -timeout 60m ./... | tee $(BENCH_OUT)"
	@$(GO) run ./hack/benchtable < $(BENCH_OUT)

.PHONY: fuzz
fuzz: ## Fuzz the policy loader, the redaction, artifact extraction, inventory and interruption message parsing for a minute each.
	$(GO) test -run '^$$' -fuzz FuzzLoad -fuzztime 60s ./policies
	$(GO) test -run '^$$' -fuzz FuzzRedact -fuzztime 60s ./redact
	$(GO) test -run '^$$' -fuzz '^FuzzUntar$$' -fuzztime 60s ./controllers/source
	$(GO) test -run '^$$' -fuzz '^FuzzUntarEntries$$' -fuzztime 60s ./controllers/source
	$(GO) test -run '^$$' -fuzz '^FuzzInventory$$' -fuzztime 60s ./controllers/source
	$(GO) test -run '^$$' -fuzz '^FuzzParseInterruptionMessage$$' -fuzztime 60s ./cloud

##@ Code generation

.PHONY: generate
generate: ## Generate deepcopy functions.
	$(TOOL) controller-gen object paths=./policies/...

.PHONY: manifests
manifests: ## Generate CRDs, RBAC and the webhook configuration into config/ and copy them to the chart.
	$(TOOL) controller-gen crd paths=./policies/... output:crd:artifacts:config=config/crd/bases
	$(TOOL) controller-gen rbac:roleName=manager-role webhook paths=./controllers/... output:rbac:artifacts:config=config/rbac output:webhook:artifacts:config=config/webhook
	@# The chart installs the CRDs from crds/ and templates its RBAC, webhooks, alerts and
	@# dashboard from files/.
	rm -rf charts/ballast/crds charts/ballast/files
	mkdir -p charts/ballast/crds charts/ballast/files/rbac charts/ballast/files/webhook charts/ballast/files/monitoring
	cp config/crd/bases/*.yaml charts/ballast/crds/
	cp config/rbac/role.yaml charts/ballast/files/rbac/
	cp config/webhook/manifests.yaml charts/ballast/files/webhook/
	cp config/monitoring/grafana-dashboard.json config/monitoring/prometheusrule.yaml charts/ballast/files/monitoring/

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
	rm -rf $(BIN) $(DIST)

##@ Release

# hack/release.sh runs `make binaries` and `make image` itself (a $(MAKE) here would run
# the release even under make -n).
.PHONY: release
release: ## Build release VERSION=x.y.z into dist/release/x.y.z (install.yaml, chart, images, binaries, SHA256SUMS, notes).
	GO="$(GO)" DIST="$(DIST)" IMAGE="$(IMAGE)" hack/release.sh "$(VERSION)"
