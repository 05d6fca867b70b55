#!/usr/bin/env bash
# Fetches the Node.js 24 LTS runtime the artifact embeds, and nothing else: the npm package
# node-linux-<arch> at a pinned version, into the tools cache ($KMS_TOOLS_CACHE, default
# ~/.cache/vault-kubernetes-kms-tools), linked at .tools/node24 (this machine's arch) and
# .tools/node24-linux-<arch> (another arch). Called by `npm run build:artifact` when the binary is
# missing, by scripts/image/stage.sh, and by `npm run tools` (scripts/install-test-tools.sh).
#   bash scripts/fetch-node24.sh [x64|arm64 ...]    (default: this machine's arch; plus KMS_TOOLS_NODE24_ARCHES)
set -euo pipefail
cd "$(dirname "$0")/.."

NODE24_VERSION=24.22.3
cache=${KMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-kubernetes-kms-tools}
mkdir -p "$cache" .tools

case "$(uname -m)" in
  x86_64) host=x64 ;;
  aarch64) host=arm64 ;;
  *) echo "fetch-node24: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# fetch <arch>: the package into the cache once (unpacked beside, then moved into place), then the link.
fetch() {
  local arch=$1 dir
  case "$arch" in x64|arm64) ;; *) echo "fetch-node24: unknown Node arch $arch (x64 or arm64)" >&2; exit 1 ;; esac
  if [ "$arch" = "$host" ]; then dir="$cache/node-$NODE24_VERSION"; else dir="$cache/node-$NODE24_VERSION-linux-$arch"; fi
  if [ ! -x "$dir/bin/node" ]; then
    echo "fetch-node24: Node.js $NODE24_VERSION from npm (node-linux-$arch)" >&2
    local tmp part
    tmp=$(mktemp -d)
    part=$(mktemp -d "$dir.part.XXXXXX")
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$NODE24_VERSION" >/dev/null)
    tar -xzf "$tmp"/*.tgz -C "$part" --strip-components=1
    rm -rf "$tmp"
    # Another fetch may have finished first: keep the one in place.
    if [ -x "$dir/bin/node" ]; then rm -rf "$part"; else rm -rf "$dir" && mv "$part" "$dir"; fi
  fi
  if [ "$arch" = "$host" ]; then ln -sfn "$dir" .tools/node24; else ln -sfn "$dir" ".tools/node24-linux-$arch"; fi
}

arches=("$@")
[ "${#arches[@]}" -gt 0 ] || arches=("$host")
for a in "${arches[@]}" ${KMS_TOOLS_NODE24_ARCHES:-}; do fetch "$a"; done
