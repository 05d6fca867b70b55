#!/usr/bin/env bash
# `npm run test:cluster`: the plugin on a real node (test/cluster/cluster.test.ts). Builds or reuses the
# kubelet, containerd and the images (test/cluster/build.sh, cached per version), builds our image from the
# Containerfile (scripts/image/build.sh, as `npm run test:image` does), then runs the suite as root in a
# private network namespace: a real node's fixed ports (6443, 2379, 10250, the manifest's 127.0.0.1:8080)
# touch nothing else on the machine.
# Ends with one line: "test:cluster: PASS ..." or "test:cluster: FAIL ...".
#   test/cluster/run.sh up        npm run cluster:up: the same node, left running for a demo
#   test/cluster/run.sh kubectl   npm run cluster:kubectl -- get pods -A: kubectl on that node
#   test/cluster/run.sh down      npm run cluster:down: tears it down
#   test/cluster/run.sh chaos     npm run test:chaos: the short chaos run (test/cluster/chaos/chaos.test.ts)
#   test/cluster/run.sh chaos-long [minutes]   npm run chaos:long: the scheduled one (default 60 minutes),
#                                 which regenerates docs/reliability.md (test/cluster/chaos/report.mjs)
#   KMS_CLUSTER_KEEP=1    keep the node's directory (logs, manifests) after the test run
# Needs root, and `npm run tools` and `npm run build` done.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$root/scripts/image/common.sh"
cd "$root"

fail() { echo "test:cluster: FAIL ($1)"; exit 1; }
mode=${1:-test}
state_dir=/run/vault-kubernetes-kms-cluster
state=$state_dir/state.json
demo_pid() { node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).pid' "$state" 2>/dev/null; }
case "$mode" in
  down)
    pid=$(demo_pid) || { echo "cluster: not running (no $state)"; exit 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.5; done
    rm -f "$state"
    echo "cluster: down"
    exit 0 ;;
  kubectl)
    shift
    pid=$(demo_pid) || { echo "cluster: not running: npm run cluster:up" >&2; exit 1; }
    kubectl=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).kubectl' "$state")
    kubeconfig=$(node -p 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).kubeconfig' "$state")
    exec nsenter --net="/proc/$pid/ns/net" "$kubectl" --kubeconfig="$kubeconfig" "$@" ;;
  up|test|chaos|chaos-long) ;;
  *) echo "usage: test/cluster/run.sh [test|up|down|kubectl ...|chaos|chaos-long [minutes]]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || fail "needs root (a kubelet and containerd run the node)"
for tool in buildah podman runc mmdebstrap unshare ip openssl go; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed: npm run tools"
done
[ -f dist/test/cluster/cluster.test.js ] || fail "dist/test/cluster/cluster.test.js missing: npm run build"

start=$(date +%s)
vars=$(bash "$here/build.sh") || fail "test/cluster/build.sh"
while IFS= read -r line; do export "${line?}"; done <<< "$vars"
built=$(date +%s)
echo "test:cluster: kubelet, containerd and images ready in $((built - start)) s"

image=$(bash scripts/image/build.sh) || fail "image build"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
podman "${PODMAN_STORAGE[@]}" save --quiet --format oci-archive -o "$tmp/image.tar" "$image" || fail "podman save $image"
export KMS_CLUSTER_IMAGE="$image" KMS_CLUSTER_IMAGE_ARCHIVE="$tmp/image.tar" KMS_CLUSTER_REPORT="$tmp/report.json"
echo "test:cluster: $image built in $(( $(date +%s) - built )) s"

# The node's address: 10.253.0.10, outside the service range (10.96.0.0/12), on the namespace's loopback device
# (no dummy or veth module needed); only this namespace sees it. Not 127.0.0.1: kube-apiserver refuses to reach
# a kubelet on a loopback address, so `kubectl logs` would fail.
export KMS_CLUSTER_NODE_IP=10.253.0.10
netns_setup='ip link set lo up && ip addr add "$KMS_CLUSTER_NODE_IP/24" dev lo'
if [ "$mode" = up ]; then
  [ -s "$state" ] && kill -0 "$(demo_pid)" 2>/dev/null && { echo "cluster: already up (npm run cluster:down first)"; exit 1; }
  mkdir -p "$state_dir" && rm -f "$state"
  nohup unshare --net -- bash -c "$netns_setup && exec node dist/test/cluster/demo.js $state" > "$state_dir/demo.log" 2>&1 &
  until [ -s "$state" ]; do
    kill -0 $! 2>/dev/null || { cat "$state_dir/demo.log"; echo "cluster: bring-up failed"; exit 1; }
    sleep 1
  done
  cat "$state_dir/demo.log"
  cat <<EOT
cluster: a kubelet runs etcd, kube-apiserver and $image as static Pods, in a network namespace of its own.
  npm run cluster:kubectl -- get pods -n kube-system
  npm run cluster:kubectl -- create secret generic demo --from-literal=key=value
  npm run cluster:kubectl -- logs -n kube-system vault-kubernetes-kms-kms-node
  npm run cluster:down
EOT
  exit 0
fi
suite="node --test --test-reporter=spec dist/test/cluster/cluster.test.js"
if [ "$mode" = chaos ]; then
  suite="node --test --test-reporter=spec dist/test/cluster/chaos/chaos.test.js"
  export KMS_CHAOS_RESULT=${KMS_CHAOS_RESULT:-$tmp/chaos.json}
elif [ "$mode" = chaos-long ]; then
  suite="node dist/test/cluster/chaos/long.js ${2:-60}"
  export KMS_CHAOS_RESULT=${KMS_CHAOS_RESULT:-$tmp/chaos.json}
fi
unshare --net -- bash -c "$netns_setup && readlink /proc/self/ns/net > $tmp/netns && exec $suite"
rc=$?
if [ "$mode" = chaos-long ] && [ -s "$KMS_CHAOS_RESULT" ]; then
  node test/cluster/chaos/report.mjs "$KMS_CHAOS_RESULT" docs || rc=1
fi
# The suite tears the node down itself and fails if anything is left. Should it have been killed instead,
# whatever still runs in its network namespace (only what it started can be there) is killed here.
if [ -s "$tmp/netns" ]; then
  netns=$(cat "$tmp/netns")
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$netns" ] && { echo "test:cluster: killing leftover ${p#/proc/} ($(tr '\0' ' ' < "$p/cmdline" | cut -c1-80))"; kill -9 "${p#/proc/}" 2>/dev/null; rc=1; }
  done
fi
[ -s "$tmp/report.json" ] && cat "$tmp/report.json"
if [ "$rc" -eq 0 ]; then
  echo "test:cluster: PASS ($image, $(( $(date +%s) - start )) s in all)"
else
  fail "test/cluster/cluster.test.ts exited $rc"
fi
