#!/bin/bash
# The README's demo: install ocirt, build a busybox bundle, run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/install-deps.sh
demo=${OCIRT_DEMO_DIR:-/tmp/ocirt-demo}
rm -rf "$demo" && mkdir -p "$demo/rootfs/bin"
cp /bin/busybox "$demo/rootfs/bin/busybox"
chroot "$demo/rootfs" /bin/busybox --install -s /bin
mkdir -p "$demo/rootfs/"{proc,sys,dev,tmp,etc}
cd "$demo"
ocirt=/usr/local/bin/ocirt  # what install-deps links (not a pyenv shim on PATH)
"$ocirt" spec
# non-interactive, so the demo runs anywhere (CI, pipes); drop these two
# edits for an interactive shell with a terminal.
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", "echo hello from ocirt: $(hostname), pid $$; id; ls /"]
json.dump(c, open("config.json", "w"), indent=2)
PY
exec "$ocirt" run "demo-$$"
