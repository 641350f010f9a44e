#!/bin/bash
# Everything the runtime and its tests need on a fresh Debian machine, then
# ocirt itself.  Idempotent: skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
debs=(busybox-static libseccomp-dev uidmap iproute2 gcc libc6-dev python3-venv python3-dev)
missing=()
for d in "${debs[@]}"; do
    dpkg -s "$d" >/dev/null 2>&1 || missing+=("$d")
done
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# podman, containerd and Docker for tests/engines (each module skips if its
# engine cannot start)
bash tests/engines/install.sh || echo "install-deps: engines not installed; tests/engines will skip" >&2
python3 -m pip install -q --disable-pip-version-check jsonschema cffi pytest hypothesis setuptools wheel
python3 -m pip install -q --disable-pip-version-check --force-reinstall --no-deps --no-build-isolation .
# the tests import ocirt from this checkout too: build its cffi modules here
python3 native/build_inplace.py
# The ocirt engines and users run: the launcher under Debian's python3.
# Every CLI call pays interpreter start-up, and Debian's build (PGO, LTO, a
# static libpython) starts about twice as fast as a default source build
# such as pyenv's: ~1.2x less CPU per call, ~1.35x for state/start
# (docs/performance.md, the ocirt-distro column).  It lives in its own venv
# and is linked as /usr/local/bin/ocirt; the interpreter running this script
# keeps its own install for the tests that import ocirt.
bash tests/install-distro.sh
