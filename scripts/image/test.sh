#!/usr/bin/env bash
# `npm run test:image`: builds the image for this machine's arch (or the one given:
# scripts/image/test.sh arm64, which scripts/image-arm64.sh runs under QEMU) from the real Containerfile
# (scripts/image/build.sh), then runs test/image/ against it: the container started as
# manifests/static-pod-token.yaml starts it, against a real OpenBao. The test runs in a private
# network namespace, so the manifest's fixed health port (127.0.0.1:8080) and host networking
# touch nothing else on the machine. Ends with one line: "test:image: PASS ..." or "test:image: FAIL ...".
# Needs root, buildah, podman, runc, mmdebstrap, iproute2, openssl, and `npm run tools` and `npm run build` done.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
cd "$here/../.."

fail() { echo "test:image: FAIL ($1)"; exit 1; }
for tool in buildah podman runc mmdebstrap unshare ip; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed: apt-get install buildah podman runc mmdebstrap iproute2"
done
[ -f dist/test/image/image.test.js ] || fail "dist/test/image/image.test.js missing: npm run build"

arch=${1:-$(host_debian_arch)}
start=$(date +%s)
image=$(bash "$here/build.sh" "$arch") || fail "image build"
base=${IMAGE_BASE:-localhost/vault-kubernetes-kms-base:${KMS_BASE_SUITE:-bookworm}-$arch}
size=$(podman "${PODMAN_STORAGE[@]}" image inspect --format '{{.Size}}' "$image")
echo "test:image: built $image ($((size / 1024 / 1024)) MiB, base $base) in $(( $(date +%s) - start )) s"

hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=1048576
export KMS_IMAGE="$image" KMS_IMAGE_BASE="$base" KMS_IMAGE_SOURCE="$(image_source)" KMS_IMAGE_NOFILE="$((hard_nofile < 65536 ? hard_nofile : 65536))" \
  KMS_IMAGE_OUTER_NETNS="$(readlink /proc/self/ns/net)"
unshare --net -- bash -c 'ip link set lo up && exec node --test --test-reporter=spec dist/test/image/image.test.js'
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "test:image: PASS ($image, linux/$arch, $((size / 1024 / 1024)) MiB)"
else
  fail "test/image/image.test.ts exited $rc"
fi
