#!/usr/bin/env bash
# Builds the helm CLI the chart tests run (helm lint, helm template) from the Go module
# proxy at a pinned version, and caches it outside the repository keyed by version.
#
#   hack/helm.sh        # prints the path of the helm binary
#
# A binary already in the cache is reused as is. The first build takes about four
# minutes on two idle cores.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE="${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}"
OUT_DIR="$CACHE/helm/$HELM_VERSION"
OUT="$OUT_DIR/helm"

# Helm pins its own Go in its go.mod; the machine's Go builds it.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { printf 'helm: %s\n' "$*" >&2; }

# module_dir downloads a module version and prints its directory in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_helm() {
  [ -x "$OUT" ] && return 0
  log "building helm $HELM_VERSION (about four minutes, once)"
  local src; src="$(module_dir "helm.sh/helm/v3@$HELM_VERSION")"
  if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
    log "could not download helm.sh/helm/v3@$HELM_VERSION"
    exit 1
  fi
  # As helm's own Makefile does: the version, and the Kubernetes version that
  # `helm template` and `helm lint` assume, taken from the client-go helm is built with.
  local k8s; k8s="$(sed -n 's/^[[:space:]]*k8s.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$src/go.mod")"
  local ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.metadata="
  for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ldflags="$ldflags -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$k8s"
  done
  # The module cache is read-only; go build only writes its output and the build cache.
  (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$OUT.tmp" ./cmd/helm)
  mv "$OUT.tmp" "$OUT"
}

main() {
  mkdir -p "$OUT_DIR"
  # Run outside any module: the caller's go.mod may want another Go.
  cd "$CACHE"
  # Test packages run in parallel and may all ask for the binary at once.
  exec 9>"$CACHE/helm.lock"
  flock 9
  build_helm
  echo "$OUT"
}

main "$@"
