#!/usr/bin/env bash
# The control-plane suite (npm run test:control-plane): a real etcd, a real
# kube-apiserver, the packaged plugin and a real OpenBao, then the same with a
# real HashiCorp Vault (see README.md).
#   test/control-plane/run.sh [go test flags, e.g. -run TestRotation]
# kube-apiserver and etcd are built from this module (go.mod pins the releases)
# once per machine into $KMS_TOOLS_CACHE (default ~/.cache/vault-kubernetes-kms-tools),
# in directories named after the pinned versions, and reused.
#   KMS_CP_TIMEOUT=30m   go test -timeout
#   KMS_CP_BENCH=1       also run the cold-start benchmark (npm run bench:control-plane)
#   KMS_PLUGIN_CMD=...   test another plugin binary (default dist/artifact/vault-kubernetes-kms)
#   KMS_CP_KEEP=1        keep the temp dir with every log, also on success
#   KMS_CP_SERVERS="openbao vault"  the real servers, one go test run each (.tools/bin/bao, .tools/bin/vault)
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

version_of() { awk -v m="$1" '$1 == m { print $2; exit }' go.mod; }
k8s_version=$(version_of k8s.io/kubernetes)
etcd_version=$(version_of go.etcd.io/etcd/server/v3)
cache=${KMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-kubernetes-kms-tools}

# build <cmd> <cache dir>: go build ./cmd/<cmd> into the cache unless it is there.
build() {
  local cmd=$1 dir=$2
  if [ ! -x "$dir/$cmd" ]; then
    echo "control-plane: building $cmd into $dir (once per machine; kube-apiserver takes 10+ minutes)"
    mkdir -p "$dir"
    local started=$SECONDS
    go build -trimpath -buildvcs=false -ldflags='-s -w' -o "$dir/$cmd.part" "./cmd/$cmd"
    mv "$dir/$cmd.part" "$dir/$cmd"
    echo "control-plane: built $cmd in $((SECONDS - started)) s"
  fi
}
build etcd "$cache/etcd-$etcd_version"
build kube-apiserver "$cache/kube-apiserver-$k8s_version"
export KMS_CP_ETCD="$cache/etcd-$etcd_version/etcd"
export KMS_CP_KUBE_APISERVER="$cache/kube-apiserver-$k8s_version/kube-apiserver"
export KMS_REPO_ROOT="$root"

if [ -z "${KMS_PLUGIN_CMD:-}" ] && [ ! -x "$root/dist/artifact/vault-kubernetes-kms" ]; then
  echo "control-plane: dist/artifact/vault-kubernetes-kms is missing: npm run build:artifact" >&2
  exit 2
fi
echo "control-plane: kube-apiserver $k8s_version, etcd $etcd_version, $("$KMS_CP_ETCD" --version | head -1)"
status=0
for server in ${KMS_CP_SERVERS:-openbao vault}; do
  echo "control-plane: the checks against $server"
  KMS_CP_SERVER=$server go test -count=1 -v -timeout "${KMS_CP_TIMEOUT:-30m}" . "$@" || status=$?
done
exit "$status"
