#!/usr/bin/env bash
# Builds HashiCorp Vault (Community Edition, no UI) from the Go module proxy:
#   scripts/build-vault.sh <version> <output dir>      e.g. scripts/build-vault.sh 1.21.4 ~/.cache/.../vault-1.21.4
# writes <output dir>/vault (built in <output dir>.part, then moved into place). Called by
# scripts/install-test-tools.sh; runs on its own too (about 10 minutes on 2 CPUs the first time).
#
# Why it is not a plain `go install`: the module zip of github.com/hashicorp/vault leaves out its nested
# modules ./api and ./sdk, while its go.mod replaces them with those (absent) folders. So the source is copied
# to a scratch folder, the local replaces are dropped, api comes from the proxy at the version go.mod requires,
# and sdk comes from the proxy with the two changes the 1.21 release branch made to it and no sdk release has
# at the same time (listed at patch_sdk below). The changed sdk code is transit's key restore and an identity
# activation hook; encrypt and decrypt are untouched.
#
# The Go build cache of this build (about 4 GB) is a scratch folder removed at the end, since the binary itself
# is what gets cached; KMS_TOOLS_VAULT_GOCACHE names a folder to keep it in instead.
set -euo pipefail

version=${1:?usage: build-vault.sh <version> <output dir>}
out=${2:?usage: build-vault.sh <version> <output dir>}
# The versions of the nested modules Vault $version builds with (its go.mod requires both).
API_VERSION=v1.22.0
SDK_VERSION=v0.21.0

work=$(mktemp -d)
gocache=${KMS_TOOLS_VAULT_GOCACHE:-$work/gocache}
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# module_dir <module@version>: the read-only copy of a module in the module cache, downloaded if needed.
module_dir() {
  go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or sys.exit(d.get("Error", "no Dir")))'
}

echo "vault: sources of github.com/hashicorp/vault v$version and sdk $SDK_VERSION from the Go module proxy"
cp -r "$(module_dir "github.com/hashicorp/vault@v$version")" "$work/vault"
cp -r "$(module_dir "github.com/hashicorp/vault/sdk@$SDK_VERSION")" "$work/sdk"
chmod -R u+w "$work/vault" "$work/sdk"

# replace_once <file> <perl substitution>: applies an edit that must change the file, or stops the build (a
# different sdk version would otherwise build into something else than intended, or fail far from here).
replace_once() {
  local file=$1 edit=$2 before
  before=$(sha256sum "$file")
  perl -0pi -e "$edit" "$file"
  if [ "$(sha256sum "$file")" = "$before" ]; then
    echo "vault: the sdk edit '$edit' changed nothing in $file (another sdk version?)" >&2
    exit 1
  fi
}

# patch_sdk: the two API changes of the 1.21 release branch's sdk that Vault v$version's own code calls.
patch_sdk() {
  # 1. framework.Backend.ActivationFunc takes (ctx, request): vault/identity_store.go assigns a method of that
  #    shape, and vault/logical_system_activation_flags.go calls it with two arguments. Nothing in sdk calls it.
  replace_once "$work/sdk/framework/backend.go" \
    's/ActivationFunc func\(context\.Context, \*logical\.Request, string\) error/ActivationFunc func(context.Context, *logical.Request) error/'
  # 2. keysutil.LockManager.RestorePolicy returns the restored key's name besides the error (transit's
  #    path_restore.go reads both). Only the signature and the function's own return statements change: every
  #    error return gains an empty name, and the success return gives the name restored.
  local lm="$work/sdk/helper/keysutil/lock_manager.go"
  replace_once "$lm" \
    's/(func \(lm \*LockManager\) RestorePolicy\([^)]*\)) error \{/$1 (string, error) {/'
  perl -0pi -e '
    s{(func \(lm \*LockManager\) RestorePolicy\(.*?\n\}\n)}{
      my $body = $1;
      $body =~ s/\breturn nil\n/return name, nil\n/g;
      $body =~ s/\breturn (?!name, nil\n)(?!"", )/return "", /g;
      $body
    }se' "$lm"
  # The function body must now return two values everywhere; go vet-like check by the compiler follows, but
  # fail early with a clear message if a return was missed.
  if perl -0ne 'exit 1 if /func \(lm \*LockManager\) RestorePolicy\(.*?\n\}\n/s && $& =~ /\breturn (?!"", |name, nil)/' "$lm"; then :; else
    echo "vault: RestorePolicy in $lm still has a single-value return" >&2
    exit 1
  fi
}
patch_sdk

cd "$work/vault"
go mod edit \
  -dropreplace=github.com/hashicorp/vault/api \
  -dropreplace=github.com/hashicorp/vault/api/auth/approle \
  -dropreplace=github.com/hashicorp/vault/api/auth/kubernetes \
  -dropreplace=github.com/hashicorp/vault/api/auth/userpass \
  -dropreplace=github.com/hashicorp/vault/sdk \
  -require=github.com/hashicorp/vault/api@$API_VERSION \
  -require=github.com/hashicorp/vault/sdk@$SDK_VERSION \
  -replace=github.com/hashicorp/vault/sdk="$work/sdk"

echo "vault: go build (about 10 minutes on 2 CPUs, about 4 GB of build cache in $gocache)"
rm -rf "$out.part" && mkdir -p "$out.part"
start=$SECONDS
GOCACHE=$gocache GOFLAGS=-buildvcs=false \
  go build -mod=mod -trimpath -ldflags "-s -w" -o "$out.part/vault" .
echo "vault: built in $((SECONDS - start)) s; build cache $(du -sh "$gocache" | cut -f1)"
"$out.part/vault" version
rm -rf "$out" && mv "$out.part" "$out"
