# Shared by the image scripts (sourced, not run).
tools_cache() {
  echo "${KMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-kubernetes-kms-tools}"
}

# Every podman and buildah call uses a storage of its own: the vfs driver (no kernel overlay support
# needed; works inside containers and sandboxes, at the price of disk space) under a root and run root
# that nothing else on the machine uses. The machine's shared /var/lib/containers/storage may have been
# created with another driver, and then every call fails with `database storage graph driver "" does not
# match our storage graph driver "vfs"`. KMS_IMAGE_STORAGE moves it (test/cluster/build.sh uses a
# throwaway one).
KMS_IMAGE_STORAGE=${KMS_IMAGE_STORAGE:-$(tools_cache)/containers-storage}
# The run root holds locks and mounts that must not outlive a reboot: on /run (a tmpfs), named after the root.
KMS_IMAGE_STORAGE_RUN=${KMS_IMAGE_STORAGE_RUN:-/run/vault-kubernetes-kms-storage/$(printf '%s' "$KMS_IMAGE_STORAGE" | sha256sum | cut -c1-12)}
PODMAN_STORAGE=(--storage-driver=vfs --root "$KMS_IMAGE_STORAGE/root" --runroot "$KMS_IMAGE_STORAGE_RUN")
export KMS_IMAGE_STORAGE KMS_IMAGE_STORAGE_RUN

host_debian_arch() {
  case "$(uname -m)" in
    x86_64) echo amd64 ;;
    aarch64) echo arm64 ;;
    *) echo "unsupported machine $(uname -m)" >&2; return 1 ;;
  esac
}

# Debian/OCI arch name -> Node's (process.arch, npm package suffix).
node_arch() {
  case "$1" in
    amd64) echo x64 ;;
    arm64) echo arm64 ;;
    *) echo "unsupported arch $1" >&2; return 1 ;;
  esac
}

# The org.opencontainers.image.source label: IMAGE_SOURCE, else package.json "repository",
# else the git remote if it is a URL (user-info stripped), else empty.
image_source() {
  local source remote
  source=${IMAGE_SOURCE:-$(node -p 'const r = require("./package.json").repository; (r && (r.url || r)) || ""')}
  if [ -z "$source" ]; then
    remote=$(git config --get remote.origin.url 2>/dev/null || true)
    case "$remote" in
      https://*) source=$(printf '%s' "$remote" | sed -E 's#^https://[^@/]*@#https://#; s#\.git$##') ;;
      git@*:*) source=$(printf '%s' "$remote" | sed -E 's#^git@([^:]+):#https://\1/#; s#\.git$##') ;;
    esac
  fi
  printf '%s' "$source"
}
