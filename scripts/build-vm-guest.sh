#!/bin/sh
# Build what the vm backend boots into OUT (default build/vm): Debian's generic amd64
# kernel as an uncompressed vmlinux (fetched with `apt-get download`, unpacked with
# `dpkg -x`, never installed into /boot), and a cpio initramfs holding our static guest
# agent (guest/agent.c) as /init plus the virtio/9p modules it loads. Idempotent: a
# finished build leaves OUT/built (the kernel release); `make vm-guest` rebuilds when
# the agent or these scripts change. LXCRI_VM_KERNEL_DEB=FILE uses that .deb instead.
#
# The generic linux-image-*-amd64, not -cloud-amd64: the cloud kernel has no 9p.
set -eu
here=$(dirname "$(realpath "$0")")
top=$(dirname "$here")
out=$(realpath -m "${1:-build/vm}")
say() { echo "build-vm-guest: $*"; }
die() { echo "build-vm-guest: error: $*" >&2; exit 2; }

for tool in gcc python3 dpkg; do
    command -v "$tool" >/dev/null || die "$tool missing: make vm-guest installs what it needs"
done
[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || [ -f /usr/lib64/libc.a ] ||
    die "no static libc (libc.a): install libc6-dev"
rm -f "$out/built"
mkdir -p "$out/dl"

deb=${LXCRI_VM_KERNEL_DEB:-}
if [ -z "$deb" ]; then
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
    if [ -z "$pkg" ]; then
        apt-get -o DPkg::Lock::Timeout=600 update -q >/dev/null
        pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n 1)
    fi
    [ -n "$pkg" ] || die "apt knows no linux-image-amd64 (run apt-get update)"
    deb=$(ls "$out/dl/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
    if [ -z "$deb" ]; then
        say "fetching $pkg"
        (cd "$out/dl" && apt-get download -q "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
        deb=$(ls "$out/dl/${pkg}_"*.deb 2>/dev/null | head -n 1 || true)
        [ -n "$deb" ] || die "apt-get download $pkg failed"
    fi
fi
rm -rf "$out/kernel"
dpkg -x "$deb" "$out/kernel"
vmlinuz=$(ls "$out"/kernel/boot/vmlinuz-* | head -n 1)
release=${vmlinuz##*/vmlinuz-}
[ -d "$out/kernel/lib/modules/$release" ] || die "$deb has no modules for $release"

say "agent: gcc -static guest/agent.c"
gcc -static -O2 -Wall -Wextra -o "$out/agent" "$top/guest/agent.c"
python3 "$here/build-vm-initramfs.py" --kernel-root "$out/kernel" --release "$release" \
    --agent "$out/agent" --vmlinuz "$vmlinuz" --out "$out"
# Only the vmlinux, the initramfs and the config stay: the unpacked package is 400 MB.
cp "$out/kernel/boot/config-$release" "$out/config"
rm -rf "$out/kernel"
echo "$release" >"$out/built"
say "done: $out/vmlinux, $out/initramfs.cpio ($release)"
