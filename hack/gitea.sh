#!/usr/bin/env bash
# Builds the Gitea server Ballast's forge tests run against from the Go module proxy at a
# pinned version, and caches it outside the repository keyed by version.
#
#   hack/gitea.sh            # prints the path of the gitea binary
#   hack/gitea.sh --cached   # prints it only when it is built already, else exits 1
#
# A binary already in the cache is reused as is. The first build takes about 13 minutes on
# two cores (about 4 with a warm module and build cache).
#
# The binary is built without the bindata tag (that needs Gitea's npm frontend build), so
# it reads its locales, templates and static files from disk: they are copied next to it,
# and a server must set [server] STATIC_ROOT_PATH to the binary's directory.
set -euo pipefail

GITEA_VERSION="${GITEA_VERSION:-v1.26.1}"
CACHE="${BALLAST_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ballast}"
OUT_DIR="$CACHE/gitea/$GITEA_VERSION"
OUT="$OUT_DIR/gitea"

# Gitea pins its own Go in its go.mod; the machine's Go builds it. Gitea's sqlite driver
# needs cgo.
export GOTOOLCHAIN=local GOFLAGS=-mod=mod CGO_ENABLED=1

log() { printf 'gitea: %s\n' "$*" >&2; }

# module_dir downloads a module version and prints its directory in the module cache.
module_dir() {
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_gitea() {
  [ -x "$OUT" ] && return 0
  log "building gitea $GITEA_VERSION (about 13 minutes, once)"
  local src; src="$(module_dir "code.gitea.io/gitea@$GITEA_VERSION")"
  if [ -z "$src" ] || [ ! -f "$src/go.mod" ]; then
    log "could not download code.gitea.io/gitea@$GITEA_VERSION"
    exit 1
  fi
  # The module cache is read-only; go build only writes its output and the build cache.
  local ldflags="-s -w -X main.Version=${GITEA_VERSION#v} -X main.Tags=sqlite,sqlite_unlock_notify"
  (cd "$src" && go build -trimpath -tags "sqlite sqlite_unlock_notify" -ldflags "$ldflags" -o "$OUT.tmp" .)
  mv "$OUT.tmp" "$OUT"
}

# copy_assets puts the options (locales, licences, ...), templates and public files of
# the Gitea source next to the binary, where STATIC_ROOT_PATH points.
copy_assets() {
  [ -f "$OUT_DIR/.assets" ] && return 0
  local src; src="$(module_dir "code.gitea.io/gitea@$GITEA_VERSION")"
  for d in options templates public; do
    rm -rf "${OUT_DIR:?}/$d"
    cp -r "$src/$d" "$OUT_DIR/$d"
    chmod -R u+w "$OUT_DIR/$d"
  done
  touch "$OUT_DIR/.assets"
}

main() {
  if [ "${1:-}" = "--cached" ]; then
    [ -x "$OUT" ] && [ -f "$OUT_DIR/.assets" ] || exit 1
    echo "$OUT"
    return 0
  fi
  mkdir -p "$OUT_DIR"
  # Run outside any module: the caller's go.mod may want another Go.
  cd "$CACHE"
  # Test packages run in parallel and may all ask for the binary at once.
  exec 9>"$CACHE/gitea.lock"
  flock 9
  build_gitea
  copy_assets
  echo "$OUT"
}

main "$@"
