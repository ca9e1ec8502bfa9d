#!/usr/bin/env bash
# Builds the control-plane binaries Ballast's tests run (etcd, kube-apiserver and, for the
# whole-cluster harness, kube-controller-manager, kube-scheduler and kwok) from the Go
# module proxy at pinned versions, and caches them outside the repository keyed by version.
#
#   hack/controlplane.sh [component...]   # default: etcd kube-apiserver
#
# Prints the directory that holds the binaries (suitable for KUBEBUILDER_ASSETS).
# A binary already in the cache is reused as is.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.5}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
CACHE="${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}"
ASSETS="$CACHE/controlplane/k8s-${K8S_VERSION}_etcd-${ETCD_VERSION}_kwok-${KWOK_VERSION}"

# The Kubernetes and etcd sources pin their own Go; the machine's Go builds them.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=0

log() { printf 'controlplane: %s\n' "$*" >&2; }

# module_dir downloads a module version and prints its directory in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_etcd() {
  local out="$ASSETS/etcd"
  [ -x "$out" ] && return 0
  log "building etcd $ETCD_VERSION (about a minute, once)"
  local dir; dir="$(mktemp -d)"
  cat >"$dir/main.go" <<'GO'
// Command etcd is etcd's own server entry point at a pinned version.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (
    cd "$dir"
    go mod init ballast.dev/etcd >/dev/null 2>&1
    go mod edit -require="go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    go mod tidy >/dev/null
    go build -trimpath -o "$out.tmp" .
  )
  mv "$out.tmp" "$out"
  rm -rf "$dir"
}

# k8s_source prepares a buildable copy of k8s.io/kubernetes: the published module
# replaces its staging directories with ./staging paths, which the proxy copy lacks, so
# the staging modules are required at their published versions instead.
k8s_source() {
  local src="$CACHE/src/kubernetes-$K8S_VERSION"
  if [ ! -f "$src/.ready" ]; then
    log "preparing k8s.io/kubernetes $K8S_VERSION source"
    local dl; dl="$(module_dir "k8s.io/kubernetes@$K8S_VERSION")"
    rm -rf "$src"; mkdir -p "$(dirname "$src")"
    cp -r "$dl" "$src"; chmod -R u+w "$src"
    rm -rf "$src/vendor" "$src"/go.work*
    local staging="v0.${K8S_VERSION#v1.}"
    (
      cd "$src"
      for mod in $(go mod edit -json | sed -n 's/.*"Path": "\(k8s.io\/[^"]*\)".*/\1/p' | sort -u); do
        if go mod edit -json | grep -q "\"Path\": \"./staging/src/$mod\""; then
          go mod edit -dropreplace="$mod" -require="$mod@$staging"
        fi
      done
    )
    touch "$src/.ready"
  fi
  echo "$src"
}

build_k8s() {
  local name="$1" out="$ASSETS/$1"
  [ -x "$out" ] && return 0
  log "building $name $K8S_VERSION (several minutes the first time)"
  local src; src="$(k8s_source)"
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $pkg.gitTreeState=clean"
  (cd "$src" && go build -trimpath -ldflags "$ldflags" -o "$out.tmp" "./cmd/$name")
  mv "$out.tmp" "$out"
}

# build_kwok installs kwok, the kubelet stand-in, and writes the node and pod stages
# shipped in its module into one configuration file next to it.
build_kwok() {
  local out="$ASSETS/kwok"
  if [ ! -x "$out" ]; then
    log "building kwok $KWOK_VERSION (about two minutes, once)"
    local tmp; tmp="$(mktemp -d)"
    GOBIN="$tmp" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    mv "$tmp/kwok" "$out"; rm -rf "$tmp"
  fi
  local stages="$ASSETS/kwok-stages.yaml"
  if [ ! -f "$stages" ]; then
    local dir; dir="$(module_dir "sigs.k8s.io/kwok@$KWOK_VERSION")"
    local first=1
    for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
      [ "$first" = 1 ] || echo "---"
      first=0
      grep -v '^---$' "$dir/kustomize/stage/$f"
    done >"$stages.tmp"
    mv "$stages.tmp" "$stages"
  fi
}

main() {
  mkdir -p "$ASSETS"
  # Run outside any module: the caller's go.mod may want another Go.
  cd "$CACHE"
  # Test packages run in parallel and may all ask for the binaries at once.
  exec 9>"$CACHE/controlplane.lock"
  flock 9
  local components=("$@")
  [ ${#components[@]} -gt 0 ] || components=(etcd kube-apiserver)
  for c in "${components[@]}"; do
    case "$c" in
      etcd) build_etcd ;;
      kwok) build_kwok ;;
      kube-apiserver|kube-controller-manager|kube-scheduler|kubectl) build_k8s "$c" ;;
      *) log "unknown component $c"; exit 2 ;;
    esac
  done
  echo "$ASSETS"
}

main "$@"
