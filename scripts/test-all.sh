#!/usr/bin/env bash
# The whole test suite (`npm test`; run `npm run tools` once before it): the layering rules, then
# unit, integration and end-to-end tests on the built CLI (against real OpenBao and real Vault, the
# real Go plugin, and real OpenBao behind the fault proxy); then the packaged artifact is built and the end-to-end and
# kube-apiserver conformance suites run again against it, started the way the container image
# starts it; then the image itself, and a real kube-apiserver and etcd with the artifact.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== build"
npm run build --silent

echo "== layering rules (dependency-cruiser, docs/adr/0006-layers.md)"
npm run --silent check:layers

echo "== unit, integration and end-to-end tests (node dist/src/main.js)"
node scripts/run-tests.mjs

echo "== packaged artifact"
node scripts/build-artifact.mjs

echo "== end-to-end tests against the artifact"
# The packaging is what this pass checks: the suites run on OpenBao (faults through the proxy), not again on Vault.
KMS_PLUGIN_BIN=dist/artifact/vault-kubernetes-kms KMS_TEST_ON_VAULT=0 KMS_TEST_VAULT_BACKENDS=openbao \
  node scripts/run-tests.mjs test/e2e/

echo "== conformance: kube-apiserver's own KMS client code against the artifact"
# A missing harness is a failure, not a skip: the suite would otherwise pass without it.
[ -f test/conformance/run.sh ] || { echo "test-all: test/conformance/run.sh is missing" >&2; exit 1; }
KMS_PLUGIN_CMD="$PWD/dist/artifact/vault-kubernetes-kms" bash test/conformance/run.sh

echo "== the image from the Containerfile, run as the static Pod runs it"
bash scripts/image/test.sh

echo "== a real etcd and kube-apiserver with the artifact, on OpenBao then on Vault (binaries cached per version)"
bash test/control-plane/run.sh

echo "== a real node: a kubelet and containerd run etcd, kube-apiserver and the image as static Pods (test/cluster)"
bash test/cluster/run.sh

echo "== faults while the cluster serves, ours then the Go plugin, under a steady Secret load (test/cluster/chaos)"
bash test/cluster/run.sh chaos
