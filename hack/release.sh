#!/usr/bin/env bash
# Builds a Ballast release into dist/release/VERSION (`make release VERSION=x.y.z` runs it):
#
#   CHANGELOG.md                         CHANGELOG.md's [x.y.z] section, else its [Unreleased] one
#   install.yaml                         config/default, image ghcr.io/ballast-dev/ballast:x.y.z
#   ballast-{linux,darwin}-{amd64,arm64} the CLI and controller (`make binaries`: static,
#                                        -trimpath, stripped, version, commit and date stamped)
#   ballast-x.y.z.tgz                    the Helm chart (charts/ballast), version and appVersion x.y.z
#   ballast-x.y.z-linux-{amd64,arm64}.tar, .spdx.json, ballast-x.y.z-oci.tar
#                                        the image (`make image VERSION=x.y.z`): per architecture,
#                                        its SBOM, and the multi-arch OCI layout
#   SHA256SUMS                           `sha256sum --check SHA256SUMS` over all of the above
#
#   hack/release.sh VERSION            # everything, into an emptied directory
#   hack/release.sh VERSION PART...    # only these parts (notes manifests binaries chart
#                                      # images checksums), the other files left as they are
#
# Environment: GO (go), MAKE (make), DIST (dist), IMAGE (ghcr.io/ballast-dev/ballast: the
# image's repository), HELM (else hack/helm.sh builds one).
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${1:-}"
if ! [[ "$VERSION" =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$ ]]; then
  echo "release: VERSION must be x.y.z (SemVer, no v prefix), got '${VERSION}': make release VERSION=0.1.0" >&2
  exit 2
fi
shift
PARTS=("$@")
ALL=(notes manifests binaries chart images checksums)

GO="${GO:-go}"
MAKE="${MAKE:-make}"
DIST="${DIST:-dist}"
IMAGE="${IMAGE:-ghcr.io/ballast-dev/ballast}"
PLATFORMS=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64)
OUT="$DIST/release/$VERSION"

log() { printf 'release: %s\n' "$*" >&2; }

notes() {
  "$GO" run ./hack/release notes --version "$VERSION" >"$OUT/CHANGELOG.md"
}

manifests() {
  "$GO" run ./hack/release manifests --image "$IMAGE:$VERSION" >"$OUT/install.yaml"
}

# The Makefile's own build (one set of flags for `make build`, the image and the release).
binaries() {
  "$MAKE" --no-print-directory binaries VERSION="$VERSION" DIST="$DIST" PLATFORMS="${PLATFORMS[*]}" >&2
  local p
  for p in "${PLATFORMS[@]}"; do
    cp "$DIST/bin/ballast-${p%/*}-${p#*/}" "$OUT/"
  done
}

chart() {
  local helm="${HELM:-}"
  if [ -z "$helm" ]; then
    if [ ! -x hack/helm.sh ]; then
      log "hack/helm.sh is missing: it builds the helm binary the chart is packaged with"
      exit 1
    fi
    helm="$(hack/helm.sh)"
  fi
  "$helm" package charts/ballast --version "$VERSION" --app-version "$VERSION" --destination "$OUT" >&2
}

images() {
  "$MAKE" --no-print-directory image VERSION="$VERSION" DIST="$DIST" IMAGE="$IMAGE" >&2
  local arch
  for arch in amd64 arm64; do
    cp "$DIST/image/ballast-$VERSION-linux-$arch.tar" "$DIST/image/ballast-$VERSION-linux-$arch.spdx.json" "$OUT/"
  done
  # The OCI layout as one archive, byte for byte the same for the same layout.
  tar -C "$DIST/image" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
    -cf "$OUT/ballast-$VERSION-oci.tar" oci
}

checksums() {
  (cd "$OUT" && find . -maxdepth 1 -type f ! -name SHA256SUMS -printf '%P\n' | LC_ALL=C sort |
    xargs -r sha256sum -- >SHA256SUMS)
}

if [ ${#PARTS[@]} -eq 0 ]; then
  PARTS=("${ALL[@]}")
  rm -rf "$OUT"
fi
mkdir -p "$OUT"
for part in "${PARTS[@]}"; do
  case " ${ALL[*]} " in
    *" $part "*) log "$part"; "$part" ;;
    *) log "unknown part '$part': write some of ${ALL[*]}"; exit 2 ;;
  esac
done
log "$OUT:"
ls -l "$OUT" >&2
