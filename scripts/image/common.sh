# Shared by the image scripts (sourced, not run).
# Every podman and buildah call uses the vfs storage driver: it needs no kernel overlay support
# and works inside containers and sandboxes, at the price of disk space.
PODMAN_STORAGE=(--storage-driver=vfs)

tools_cache() {
  echo "${KMS_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vault-kubernetes-kms-tools}"
}

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
