#!/usr/bin/env bash
# Makes the image's base locally, from Debian packages: the equivalent of distroless/cc
# (glibc, libstdc++, libgcc_s, CA certificates, tzdata, netbase, user nonroot 65532; no shell),
# so the image can be built and tested with no container registry.
#   scripts/image/base.sh [amd64|arm64]      prints the image name, e.g. localhost/vault-kubernetes-kms-base:bookworm-amd64
# The root filesystem tarball is cached per suite, arch and hook version in
# $KMS_TOOLS_CACHE (default ~/.cache/vault-kubernetes-kms-tools); delete it to pick up Debian updates.
# Needs root, mmdebstrap and podman (arm64 on an amd64 machine also needs nothing else:
# the extract variant runs no foreign code).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

arch=${1:-$(host_debian_arch)}
suite=${KMS_BASE_SUITE:-bookworm}
packages=libc6,libstdc++6,libgcc-s1,ca-certificates,tzdata,netbase
hook_version=$(cat "$here/base-hook.sh" "$0" | sha256sum | cut -c1-12)
cache=$(tools_cache)
tarball="$cache/base-rootfs-$suite-$arch-$hook_version.tar"
image="localhost/vault-kubernetes-kms-base:$suite-$arch"

if [ ! -s "$tarball" ]; then
  mkdir -p "$cache"
  echo "base: mmdebstrap $suite $arch -> $tarball" >&2
  mmdebstrap --quiet --format=tar --variant=extract --architectures="$arch" --include="$packages" \
    --extract-hook="sh '$here/base-hook.sh' \"\$1\"" \
    "$suite" "$tarball.part" \
    "deb http://deb.debian.org/debian $suite main" \
    "deb http://deb.debian.org/debian $suite-updates main" \
    "deb http://deb.debian.org/debian-security $suite-security main" >&2
  mv "$tarball.part" "$tarball"
fi

# Re-imported each time (a few seconds), so the image always matches the cached tarball.
podman "${PODMAN_STORAGE[@]}" import --quiet --arch "$arch" --change USER=65532:65532 \
  --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
  --change "LABEL org.opencontainers.image.description=\"Debian $suite: $packages; user nonroot 65532 (scripts/image/base.sh)\"" \
  "$tarball" "$image" >/dev/null
echo "$image"
