#!/bin/bash
# Build guest kernel + initramfs for run-in-vm.sh (idempotent).
# Usage: build.sh [KERNEL_PKG]   (default linux-image-amd64 = Debian 12's 6.1;
#                                 e.g. linux-image-6.12-amd64 for 6.12)
# Output: build/<KERNEL_PKG>/{vmlinux,vmlinuz,initramfs.cpio.gz,kver,kroot/}
set -euo pipefail
VMDIR=$(cd "$(dirname "$0")" && pwd)
PKG=${1:-${VM_KERNEL_PKG:-linux-image-amd64}}
B=$VMDIR/build/$PKG
mkdir -p "$B"
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v cpio >/dev/null || need+=(cpio)
command -v depmod >/dev/null || need+=(kmod)
command -v xz >/dev/null || need+=(xz-utils)
command -v zstd >/dev/null || need+=(zstd)
file -L /usr/bin/busybox 2>/dev/null | grep -q 'statically linked' || need+=(busybox-static)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
if [ ! -f "$B/vmlinuz" ]; then
  cd "$B"; rm -rf kpkg kroot; mkdir kpkg; cd kpkg
  apt-get download "$PKG" 2>&1 | grep -v unsandboxed || true
  deb=$(ls ./*.deb)
  if ! dpkg-deb -c "$deb" | grep -q '/boot/vmlinuz'; then   # meta package -> real image package
    dep=$(dpkg-deb -f "$deb" Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -1)
    apt-get download "$dep" 2>&1 | grep -v unsandboxed || true
    deb=$(ls ./"$dep"_*.deb)
  fi
  dpkg-deb -x "$deb" ../kroot
  cd ..; rm -rf kpkg
  KVER=$(ls kroot/lib/modules)
  # decompress modules so that busybox insmod (initramfs) and kmod both can load them
  find kroot/lib/modules -name '*.ko.xz' -exec xz -d {} +
  find kroot/lib/modules -name '*.ko.zst' -exec zstd -q -d --rm {} +
  depmod -b "$B/kroot" "$KVER"
  cp kroot/boot/vmlinuz-"$KVER" vmlinuz.tmp; echo "$KVER" > kver; mv vmlinuz.tmp vmlinuz
fi
if [ ! -f "$B/vmlinux" ]; then
  # uncompressed ELF kernel: QEMU boots it through its PVH entry point, skipping the
  # in-guest decompression (~3 s under TCG)
  /usr/bin/python3 - "$B/vmlinuz" "$B/vmlinux.tmp" <<'PY'
import lzma, subprocess, sys
d = open(sys.argv[1], 'rb').read()
out = None
i = d.find(b'\xfd7zXZ\x00')
if i > 0:
    out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(d[i:])
else:
    i = d.find(b'\x28\xb5\x2f\xfd')
    assert i > 0, 'unknown bzImage compression'
    out = subprocess.run(['zstd', '-d', '-c'], input=d[i:], capture_output=True).stdout
assert out[:4] == b'\x7fELF', 'payload is not an ELF'
open(sys.argv[2], 'wb').write(out)
PY
  mv "$B/vmlinux.tmp" "$B/vmlinux"
fi
KVER=$(cat "$B/kver")
I=$B/initramfs.d; rm -rf "$I"; mkdir -p "$I/bin" "$I/mods"
cp /usr/bin/busybox "$I/bin/busybox"
cp "$VMDIR/src/init" "$I/init"; chmod +x "$I/init"
cp "$VMDIR/src/stage2" "$I/stage2"
echo "$B/kroot/lib/modules" > "$I/moddir"
: > "$I/modules.list"
for m in virtio_pci 9pnet_virtio 9p overlay virtiofs; do
  for f in $(modprobe -d "$B/kroot" -S "$KVER" --show-depends $m | awk '$1=="insmod"{print $2}'); do
    b=$(basename "$f")
    grep -qx "$b" "$I/modules.list" || { echo "$b" >> "$I/modules.list"; cp "$f" "$I/mods/"; }
  done
done
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1 > "$B/initramfs.cpio.gz.tmp")
mv "$B/initramfs.cpio.gz.tmp" "$B/initramfs.cpio.gz"
rm -rf "$I"
echo "built $B: kernel $KVER, initramfs $(du -k "$B/initramfs.cpio.gz" | cut -f1) KiB" >&2
