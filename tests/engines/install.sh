#!/bin/bash
# What the engine tests (tests/engines/) need on a fresh Debian bookworm
# machine: podman (+conmon), containerd (runc shim v2 + ctr), docker.io
# (dockerd + Debian's docker client), busybox-static for the images.
# Idempotent: installs only the packages that are missing.  Daemons are NOT
# started here (the tests start their own, with private state dirs), and the
# packages' init scripts are kept from starting system-wide daemons.
set -euo pipefail
debs=(podman conmon containerd docker.io busybox-static)
missing=()
for d in "${debs[@]}"; do
    dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d")
done
if [ "${#missing[@]}" -eq 0 ]; then
    echo "engines: all present (${debs[*]})"
    exit 0
fi
echo "engines: installing ${missing[*]}"
start=$(date +%s)
# No system daemons: invoke-rc.d asks policy-rc.d; 101 = "action forbidden".
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    own_policy=1
fi
cleanup() { [ -z "$own_policy" ] || rm -f "$policy"; }
trap cleanup EXIT
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confold "${missing[@]}" >/dev/null
echo "engines: installed in $(( $(date +%s) - start ))s"
