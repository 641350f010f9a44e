#!/bin/bash
# Install ocirt into a venv of Debian's /usr/bin/python3 at $OCIRT_PREFIX
# (default /opt/ocirt) and link its launcher as /usr/local/bin/ocirt.  Falls
# back to linking the launcher of the python3 on PATH when Debian's python3
# (with venv and headers) is not there.
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${OCIRT_PREFIX:-/opt/ocirt}
fallback() {
    echo "install-distro: $1; /usr/local/bin/ocirt runs $(command -v python3) instead" >&2
    ln -sf "$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["scripts"])')/ocirt" /usr/local/bin/ocirt
    exit 0
}
[ -x /usr/bin/python3 ] || fallback "no /usr/bin/python3"
[ -x "$prefix/bin/python3" ] || /usr/bin/python3 -m venv "$prefix" || fallback "python3 -m venv failed"
pip=("$prefix/bin/python3" -m pip install -q --disable-pip-version-check)
"${pip[@]}" cffi jsonschema setuptools wheel || fallback "pip could not fetch cffi/jsonschema"
# Build from a clean copy: pip builds in-tree, and build/ or ocirt/*.so left
# by the other interpreter's install would be taken as up to date.
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
tar -c --exclude='*.so' --exclude=__pycache__ --exclude=_config_validator.py --exclude=_build.py \
    setup.py pyproject.toml README.md ocirt native schema | tar -x -C "$src"
# setup.py records the commit it was built from: point git at this checkout
GIT_DIR="$PWD/.git" GIT_WORK_TREE="$PWD" "${pip[@]}" --force-reinstall --no-deps --no-build-isolation "$src"
ln -sf "$prefix/bin/ocirt" /usr/local/bin/ocirt
/usr/local/bin/ocirt --version | head -1
