#!/usr/bin/env bash
# Builds what the cluster suite (npm run test:cluster) runs, once per machine and version, into
# $KMS_TOOLS_CACHE (default ~/.cache/vault-kubernetes-kms-tools), in directories named after the pinned
# versions, and reuses them afterwards:
#   kubelet-<v>/kubelet, kubectl-<v>/kubectl          test/cluster/k8s/go.mod (k8s.io/kubernetes)
#   kube-apiserver-<v>/, etcd-<v>/                     test/control-plane/go.mod, built exactly as that suite
#                                                      builds them, so the two suites share one build
#   containerd-<v>/containerd, ctr, containerd-shim-runc-v2   test/cluster/containerd/go.mod, static
#   pause-<hash>/pause                                 test/cluster/k8s/cmd/pause, static
#   go-plugin-image-<v>/vault-kubernetes-kms           the Go plugin, built as its upstream Dockerfile builds it
#   cluster-images-<hash>/*.tar                        OCI archives of the images for etcd, kube-apiserver,
#                                                      the pause sandbox and the Go plugin (no registry)
# Our own image is not cached: test/cluster/run.sh builds it from the Containerfile at every run.
# Prints the variables the suite reads (KMS_CLUSTER_*), one per line, on stdout; progress goes to stderr.
# Cold on 2 shared CPUs: kubelet about 10 minutes, the rest a few minutes; warm: a few seconds.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/image/common.sh"
cache=$(tools_cache)

version_of() { awk -v m="$2" '$1 == m { print $2; exit }' "$1"; }
k8s_version=$(version_of "$here/k8s/go.mod" k8s.io/kubernetes)
etcd_version=$(version_of "$root/test/control-plane/go.mod" go.etcd.io/etcd/server/v3)
containerd_version=$(version_of "$here/containerd/go.mod" github.com/containerd/containerd/v2)
go_plugin_version=$(awk -F= '$1 == "GO_PLUGIN_VERSION" { print $2; exit }' "$root/scripts/install-test-tools.sh")
upstream=${KMS_UPSTREAM_SRC:-$root/../shared/upstream/vault-kubernetes-kms-v$go_plugin_version}
k8s_minor=$(echo "$k8s_version" | cut -d. -f2)
pause_hash=$(sha256sum "$here/k8s/cmd/pause/main.go" | cut -c1-12)

# go_build <module dir> <output file> <go build args...>: builds unless the output exists.
go_build() {
  local dir=$1 out=$2
  shift 2
  [ -x "$out" ] && return 0
  echo "cluster: building $out (once per machine)" >&2
  mkdir -p "$(dirname "$out")"
  local started=$SECONDS
  (cd "$dir" && go build -trimpath -buildvcs=false -o "$out.part" "$@") >&2
  mv "$out.part" "$out"
  echo "cluster: built $(basename "$out") in $((SECONDS - started)) s" >&2
}

k8s_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
k8s_ldflags+=" -X k8s.io/component-base/version.gitMinor=$k8s_minor -X k8s.io/component-base/version.gitTreeState=clean"
containerd_tags="urfave_cli_no_docs no_btrfs no_zfs no_devmapper"

# containerd first (3 minutes cold), then kubelet (10), whose packages kube-apiserver and kubectl reuse.
for cmd in containerd ctr; do
  CGO_ENABLED=0 go_build "$here/containerd" "$cache/containerd-$containerd_version/$cmd" -tags "$containerd_tags" \
    -ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=$containerd_version" \
    "github.com/containerd/containerd/v2/cmd/$cmd"
done
CGO_ENABLED=0 go_build "$here/containerd" "$cache/containerd-$containerd_version/containerd-shim-runc-v2" \
  -tags "$containerd_tags no_grpc" -ldflags "-s -w" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2
go_build "$here/k8s" "$cache/kubelet-$k8s_version/kubelet" -ldflags "$k8s_ldflags" k8s.io/kubernetes/cmd/kubelet
# The same command as test/control-plane/run.sh: either suite may build them first.
go_build "$root/test/control-plane" "$cache/kube-apiserver-$k8s_version/kube-apiserver" -ldflags='-s -w' ./cmd/kube-apiserver
go_build "$root/test/control-plane" "$cache/etcd-$etcd_version/etcd" -ldflags='-s -w' ./cmd/etcd
go_build "$here/k8s" "$cache/kubectl-$k8s_version/kubectl" -ldflags "$k8s_ldflags" k8s.io/kubernetes/cmd/kubectl
CGO_ENABLED=0 go_build "$here/k8s" "$cache/pause-$pause_hash/pause" -ldflags "-s -w" ./cmd/pause
# Upstream's Dockerfile: CGO_ENABLED=0 go build -o /vault-kubernetes-kms main.go, on distroless/static (root).
[ -d "$upstream" ] || { echo "cluster: the Go plugin's source is not at $upstream (KMS_UPSTREAM_SRC)" >&2; exit 2; }
CGO_ENABLED=0 go_build "$upstream" "$cache/go-plugin-image-$go_plugin_version/vault-kubernetes-kms" \
  -ldflags "-X main.version=$go_plugin_version" main.go

# --- Images, as OCI archives. etcd and kube-apiserver link glibc (cgo): they go on the project's local Debian
# base (scripts/image/base.sh), run as root as kubeadm runs them. The Go plugin's image runs as its upstream
# one does: root, binary at /vault-kubernetes-kms, working directory /.
images_key=$(cat "$0" "$here/k8s/cmd/pause/main.go" "$root/scripts/image/base.sh" "$root/scripts/image/base-hook.sh" \
  | sha256sum | cut -c1-12)
images="$cache/cluster-images-$k8s_version-$etcd_version-$go_plugin_version-$images_key"
etcd_image=localhost/kms-cluster/etcd:$etcd_version
apiserver_image=localhost/kms-cluster/kube-apiserver:$k8s_version
pause_image=localhost/kms-cluster/pause:$pause_hash
go_plugin_image=localhost/kms-cluster/vault-kubernetes-kms-go:v$go_plugin_version
if [ ! -s "$images/done" ]; then
  echo "cluster: building the images into $images" >&2
  started=$SECONDS
  rm -rf "$images.part" && mkdir -p "$images.part"
  storage=$(mktemp -d "$cache/cluster-image-storage.XXXXXX")
  # A storage of its own, thrown away afterwards: only the archives are kept.
  # (The run root's path may have at most 50 characters.)
  runroot=$(mktemp -d /run/kms-cluster-img.XXXXXX)
  export KMS_IMAGE_STORAGE=$storage
  export KMS_IMAGE_STORAGE_RUN=$runroot
  PODMAN_STORAGE=(--storage-driver=vfs --root "$storage/root" --runroot "$runroot")
  cleanup_storage() {
    buildah "${PODMAN_STORAGE[@]}" rm --all >/dev/null 2>&1 || true
    podman "${PODMAN_STORAGE[@]}" system reset --force >/dev/null 2>&1 || true
    rm -rf "$storage" "$runroot"
  }
  trap cleanup_storage EXIT
  base=$(bash "$root/scripts/image/base.sh")
  # image <name> <base or scratch> <user> <file to copy to /> <entrypoint...>
  image() {
    local name=$1 from=$2 user=$3 file=$4 ctr
    shift 4
    ctr=$(buildah "${PODMAN_STORAGE[@]}" from --pull=never "$from")
    buildah "${PODMAN_STORAGE[@]}" copy --chmod 0755 "$ctr" "$file" "/$(basename "$file")" >/dev/null
    local entrypoint
    entrypoint=$(printf '"%s",' "$@")
    buildah "${PODMAN_STORAGE[@]}" config --user "$user" --workingdir / --entrypoint "[${entrypoint%,}]" "$ctr"
    buildah "${PODMAN_STORAGE[@]}" commit --quiet --rm "$ctr" "$name" >/dev/null
    podman "${PODMAN_STORAGE[@]}" save --quiet --format oci-archive -o "$images.part/$(basename "${name%%:*}").tar" "$name"
  }
  image "$etcd_image" "$base" 0:0 "$cache/etcd-$etcd_version/etcd" /etcd
  image "$apiserver_image" "$base" 0:0 "$cache/kube-apiserver-$k8s_version/kube-apiserver" /kube-apiserver
  image "$pause_image" scratch 65535:65535 "$cache/pause-$pause_hash/pause" /pause
  image "$go_plugin_image" "$base" 0:0 "$cache/go-plugin-image-$go_plugin_version/vault-kubernetes-kms" /vault-kubernetes-kms
  echo "$started $SECONDS" > "$images.part/done"
  rm -rf "$images" && mv "$images.part" "$images"
  echo "cluster: built the images in $((SECONDS - started)) s" >&2
fi

cat <<EOF
KMS_CLUSTER_K8S_VERSION=$k8s_version
KMS_CLUSTER_KUBELET=$cache/kubelet-$k8s_version/kubelet
KMS_CLUSTER_KUBECTL=$cache/kubectl-$k8s_version/kubectl
KMS_CLUSTER_CONTAINERD_DIR=$cache/containerd-$containerd_version
KMS_CLUSTER_IMAGES_DIR=$images
KMS_CLUSTER_ETCD_IMAGE=$etcd_image
KMS_CLUSTER_APISERVER_IMAGE=$apiserver_image
KMS_CLUSTER_PAUSE_IMAGE=$pause_image
KMS_CLUSTER_GO_PLUGIN_IMAGE=$go_plugin_image
KMS_CLUSTER_GO_PLUGIN_SRC=$upstream
EOF
