#!/usr/bin/env bash
# `npm run bench:cold-start [-- --api v2|v1|both --secrets N --rounds N --profile]`: the kube-apiserver cold start
# on the kubelet node, ours and the Go plugin v1.4.0 over the same Secrets (test/cluster/cold-start/cold-start.ts).
# Prepares what `npm run test:cluster` prepares (test/cluster/build.sh, our image from the Containerfile), then
# takes the machine's one cluster slot (flock /tmp/kms-cluster.lock) only for the run itself, as root in a private
# network namespace. Writes bench/results/cold-start-<api>.json and prints the table.
# Needs root, and `npm run tools` and `npm run build` done.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../../.." && pwd)
. "$root/scripts/image/common.sh"
cd "$root"

fail() { echo "bench:cold-start: FAIL ($1)"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (a kubelet and containerd run the node)"
[ -f dist/test/cluster/cold-start/cold-start.js ] || fail "dist/test/cluster/cold-start/cold-start.js missing: npm run build"
# In a git worktree the Go plugin's source is not at ../shared.
[ -n "${KMS_UPSTREAM_SRC:-}" ] || [ ! -d /work/shared/upstream/vault-kubernetes-kms-v1.4.0 ] || export KMS_UPSTREAM_SRC=/work/shared/upstream/vault-kubernetes-kms-v1.4.0

vars=$(bash "$root/test/cluster/build.sh") || fail "test/cluster/build.sh"
while IFS= read -r line; do export "${line?}"; done <<< "$vars"
image=$(bash scripts/image/build.sh) || fail "image build"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
podman "${PODMAN_STORAGE[@]}" save --quiet --format oci-archive -o "$tmp/image.tar" "$image" || fail "podman save $image"
export KMS_CLUSTER_IMAGE="$image" KMS_CLUSTER_IMAGE_ARCHIVE="$tmp/image.tar"
export KMS_CLUSTER_NODE_IP=10.253.0.10
echo "bench:cold-start: $image ready; waiting for the cluster slot (/tmp/kms-cluster.lock)"
flock /tmp/kms-cluster.lock unshare --net -- bash -c \
  'ip link set lo up && ip addr add "$KMS_CLUSTER_NODE_IP/24" dev lo && readlink /proc/self/ns/net > "$0/netns" && exec node dist/test/cluster/cold-start/cold-start.js "$@"' \
  "$tmp" "$@"
rc=$?
# Anything left in the namespace (only what the run started can be there) is killed.
if [ -s "$tmp/netns" ]; then
  netns=$(cat "$tmp/netns")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$netns" ] && { echo "bench:cold-start: killing leftover ${p#/proc/}"; kill -9 "${p#/proc/}" 2>/dev/null; }
  done
fi
[ "$rc" -eq 0 ] || fail "cold-start.js exited $rc"
echo "bench:cold-start: done"
