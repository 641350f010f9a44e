#!/bin/bash
# The cgroup v2 test lane: boots a throw-away QEMU VM whose kernel has only
# cgroup v2 (see run-in-vm.sh) and runs the cgroup tests in it, against this
# checkout (the VM sees the host's / read-only, under a tmpfs overlay).
#
# Usage: tests/vm/run-v2-lane.sh [PYTEST ARGS...]
# Exit: pytest's code; 0 with "SKIPPED" when the VM cannot be built or
# booted here (no qemu/apt/kernel package, repo under /tmp, ...), unless
# OCIRT_V2_LANE_REQUIRED=1, which turns a skip into exit 1.
# Time: first run ~1 min (apt install + kernel download); then ~1 min.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

skip() {
  echo "v2 lane: SKIPPED: $*" >&2
  [ "${OCIRT_V2_LANE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}

[ "$(uname -m)" = x86_64 ] || skip "the VM image is x86_64 only"
[ "$(id -u)" = 0 ] || skip "needs root (apt install, 9p passthrough of /)"
case "$REPO/" in
  /tmp/*|/var/tmp/*|/run/*|/dev/shm/*)
    # the guest mounts fresh tmpfs there: run a copy from where it can see it
    COPY=/var/lib/ocirt-v2-lane/checkout
    rm -rf "$COPY" && mkdir -p "$COPY" && cp -a "$REPO/." "$COPY/" || skip "cannot copy $REPO to $COPY"
    REPO=$COPY ;;
esac
B=$HERE/build/${VM_KERNEL_PKG:-linux-image-amd64}
mkdir -p "$HERE/build"
if [ ! -f "$B/vmlinux" ] || [ ! -f "$B/initramfs.cpio.gz" ] || ! command -v qemu-system-x86_64 >/dev/null; then
  if ! "$HERE/build-vm.sh" > "$HERE/build/lane-build.log" 2>&1; then
    tail -5 "$HERE/build/lane-build.log" >&2
    skip "could not build the VM (qemu or the kernel package unavailable)"
  fi
fi

# the real interpreter, not a pyenv shim (a shim costs seconds per start under TCG)
PY=$(python3 -c 'import sys; print(sys.executable)') || skip "no python3"
cd "$REPO" || exit 1
VM_TIMEOUT=${VM_TIMEOUT:-900} "$HERE/run-in-vm.sh" \
  "$PY" -m pytest -p no:cacheprovider -q --color=no \
  tests/test_cgroups_host.py "$@"
rc=$?
[ $rc = 125 ] && skip "the VM failed to boot (see above)"
exit $rc
