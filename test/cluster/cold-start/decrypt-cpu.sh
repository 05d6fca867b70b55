#!/usr/bin/env bash
# Where ours' cold-start CPU goes (docs/benchmarks.md, "Cold start on a kubelet node"): CPU per KMS v1 Decrypt of
# ours and the Go plugin as processes, with bench/loadgen (grpc-go, kube-apiserver's KMS client) against an OpenBao
# dev server; then ours under other V8 young-generation sizes; then, with --profile DIR, one --cpu-prof run of ours.
#   bash test/cluster/cold-start/decrypt-cpu.sh [--rounds N] [--n DECRYPTS] [--profile DIR]
# Needs `npm run tools`, `npm run build`, the image's executable (npm run image or bench:cold-start built
# dist/image/<arch>/), and bench/.bin/loadgen (go build -o bench/.bin/loadgen ./bench/loadgen). No cluster, no root.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
cd "$root"
rounds=3 n=3000 profile=
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --profile) profile=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
exe=$(ls dist/image/linux-*/vault-kubernetes-kms 2>/dev/null | head -1)
[ -x "$exe" ] || { echo "no dist/image/<arch>/vault-kubernetes-kms: npm run image" >&2; exit 1; }
[ -x bench/.bin/loadgen ] || (cd bench/loadgen && go build -o ../.bin/loadgen .)
node24=$root/.tools/node24/bin/node
# The V8 flags the executable embeds (scripts/build-artifact.mjs), without --disable-sigusr1.
work=$(mktemp -d)
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
port=$(free_port)
.tools/bin/bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$port" > "$work/bao.log" 2>&1 &
bao=$!
plugin=
cleanup() { [ -n "$plugin" ] && kill "$plugin" 2>/dev/null; kill "$bao" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export BAO_ADDR="http://127.0.0.1:$port" BAO_TOKEN=root
for _ in $(seq 100); do .tools/bin/bao status >/dev/null 2>&1 && break; sleep 0.2; done
.tools/bin/bao secrets enable transit >/dev/null
.tools/bin/bao write -f transit/keys/kms >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run <label> <in flight> <health flags> <command...>: one storm of $n distinct v1 Decrypts, one line of results.
run() {
  local label=$1 inflight=$2 health=$3
  shift 3
  local socket=$work/plugin.sock
  rm -f "$socket"
  # shellcheck disable=SC2086
  "$@" -vault-address="$BAO_ADDR" -auth-method=token -token=root -socket="unix://$socket" -disable-v1=false $health > "$work/plugin.log" 2>&1 &
  plugin=$!
  for _ in $(seq 200); do [ -S "$socket" ] && break; sleep 0.1; done
  bench/.bin/loadgen prepare -socket "$socket" -api v1 -n "$n" -concurrency 8 -out "$work/entries" > /dev/null
  local p0 b0 p1 b1 result
  p0=$(ticks "$plugin"); b0=$(ticks "$bao")
  result=$(bench/.bin/loadgen storm -socket "$socket" -api v1 -n "$n" -concurrency "$inflight" -in "$work/entries")
  p1=$(ticks "$plugin"); b1=$(ticks "$bao")
  local hwm; hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$plugin/status")
  python3 - "$label" "$inflight" "$p0" "$p1" "$b0" "$b1" "$n" "$hwm" "$result" <<'PY'
import json, sys
label, inflight, p0, p1, b0, b1, n, hwm, result = sys.argv[1:]
n = int(n)
wall = json.loads(result)["wallMs"] / 1000
print(f"| {label} | {inflight} | {(float(p1) - float(p0)) * 10 / n:.3f} | {(float(b1) - float(b0)) * 10 / n:.3f} | {wall:.2f} | {hwm} |")
PY
  kill -TERM "$plugin"; wait "$plugin" 2>/dev/null || true; plugin=
}

ours_health="-health-port=127.0.0.1:0 -health-check-interval=60s"
go_health="-health-port=$(free_port)"
echo "| plugin | v1 Decrypts in flight | plugin CPU per Decrypt (ms) | OpenBao CPU per Decrypt (ms) | $n Decrypts (s) | plugin peak RSS (MiB) |"
echo "|---|---|---|---|---|---|"
for _ in $(seq "$rounds"); do
  for inflight in 1 4; do
    run "this project (artifact)" "$inflight" "$ours_health" "$exe"
    run "Go plugin v1.4.0" "$inflight" "$go_health" .tools/bin/vault-kubernetes-kms-go
  done
  for semi in "--max-semi-space-size=1" "--max-semi-space-size=8" ""; do
    # shellcheck disable=SC2086
    run "ours, node dist, --max-old-space-size=128 ${semi:-(V8 default semi-space)}" 4 "$ours_health" "$node24" --max-old-space-size=128 $semi dist/src/main.js
  done
done
if [ -n "$profile" ]; then
  mkdir -p "$profile"
  run "ours, node dist, --cpu-prof" 4 "$ours_health" "$node24" --cpu-prof "--cpu-prof-dir=$profile" --max-semi-space-size=1 --max-old-space-size=128 dist/src/main.js
  echo "profile: $(ls "$profile"/*.cpuprofile)"
fi
