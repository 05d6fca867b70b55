#!/usr/bin/env bash
# Runs the kube-apiserver KMS conformance harness (see README.md).
#   CONFORMANCE_K8S=1.37|1.35|all   which k8s.io/apiserver line to test (default: all)
#   CONFORMANCE_TIMEOUT=10m         go test -timeout per run
#   KMS_PLUGIN_CMD=/path/to/binary  test a packaged plugin instead of node dist/src/main.js
# Extra arguments are passed to go test (e.g. -run TestKeyRotation).
# Requires a built repo (npm run build): dist/src/main.js, dist/test/support/proxied-openbao-cli.js
# (and OpenBao from `npm run tools`).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")" || exit 1
if ! command -v go >/dev/null 2>&1; then
  echo "conformance: go toolchain not found in PATH" >&2
  exit 1
fi
timeout="${CONFORMANCE_TIMEOUT:-10m}"
which="${CONFORMANCE_K8S:-all}"
rc=0
run() { # $1 = label, rest = extra go flags
  local label=$1; shift
  echo "conformance: ---- k8s.io/apiserver for Kubernetes ${label} ----"
  go test "$@" -count=1 -v -timeout "$timeout" ./... "${EXTRA[@]}"
  local r=$?
  if [ "$r" -ne 0 ] && [ "$rc" -eq 0 ]; then rc=$r; fi
}
EXTRA=("$@")
case "$which" in
  1.37) run 1.37 ;;
  1.35) run 1.35 -modfile=go.k8s-1.35.mod ;;
  all)  run 1.37; run 1.35 -modfile=go.k8s-1.35.mod ;;
  *) echo "conformance: CONFORMANCE_K8S must be 1.37, 1.35 or all" >&2; exit 2 ;;
esac
exit "$rc"
