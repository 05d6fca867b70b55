#!/usr/bin/env bash
# Builds the image from the real Containerfile with buildah, no registry and no download in the build:
#   scripts/image/build.sh [amd64|arm64]     prints the image name, localhost/vault-kubernetes-kms:<version>-<arch>
# Steps: stage the artifact + SBOM (stage.sh), make the local Debian base (base.sh) unless
# IMAGE_BASE names one already present, then `buildah bud` with the labels' values.
# Needs root, buildah, podman and mmdebstrap (docs/adr/0005-artifact-and-image.md).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
cd "$here/../.."

arch=${1:-$(host_debian_arch)}
version=$(node -p 'require("./package.json").version')
image="localhost/vault-kubernetes-kms:$version-$arch"

bash "$here/stage.sh" "$arch"
base=${IMAGE_BASE:-$(bash "$here/base.sh" "$arch")}
base_digest=$(podman "${PODMAN_STORAGE[@]}" image inspect --format '{{.Digest}}' "$base")

revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
source=$(image_source)

echo "image: buildah bud linux/$arch on $base" >&2
buildah "${PODMAN_STORAGE[@]}" bud --quiet --isolation=chroot --pull=never --layers=false \
  --platform "linux/$arch" \
  --build-arg BASE_IMAGE="$base" --build-arg BASE_DIGEST="$base_digest" \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg SOURCE="$source" \
  -f Containerfile -t "$image" . >&2
# The previous build of this tag is now untagged: drop it (vfs keeps full copies of every layer).
podman "${PODMAN_STORAGE[@]}" image prune --force --filter label=org.opencontainers.image.title=vault-kubernetes-kms >/dev/null
echo "$image"
