#!/usr/bin/env python3
"""Assemble the vm backend's guest boot files: vmlinux from a bzImage, and a newc cpio initramfs.

The initramfs holds the static agent as /init, /dev/console, and the kernel modules the
guest needs (virtio-mmio for microvm's ACPI-described devices, virtio_console for the
serial ports, 9p over virtio for the shares, virtio_net for the user-mode network), each with the modules it depends on
(from the modules' own `depends=` modinfo), listed in load order in /modules.list.
Written without cpio or kmod: the newc format is a header of hex fields per entry.
"""
from __future__ import annotations

import argparse
import lzma
import os
import re
import sys

WANTED = ["virtio_mmio", "virtio_console", "9pnet_virtio", "9p", "virtio_net"]
XZ_MAGIC = b"\xfd7zXZ\x00"


def extract_vmlinux(bzimage: bytes) -> bytes:
    """The ELF kernel inside a bzImage whose payload is xz (Debian's CONFIG_KERNEL_XZ)."""
    at = bzimage.find(XZ_MAGIC)
    while at >= 0:
        try:
            elf = lzma.LZMADecompressor().decompress(bzimage[at:])
        except lzma.LZMAError:
            elf = b""
        if elf.startswith(b"\x7fELF"):
            return elf
        at = bzimage.find(XZ_MAGIC, at + 1)
    sys.exit("build-vm-initramfs: no xz-compressed ELF kernel in the bzImage")


def module_index(moddir: str) -> dict[str, str]:
    index = {}
    for top, _dirs, files in os.walk(os.path.join(moddir, "kernel")):
        for name in files:
            for ext in (".ko", ".ko.xz"):  # Debian 13 ships its modules xz-compressed
                if name.endswith(ext):
                    index[name[:-len(ext)].replace("-", "_")] = os.path.join(top, name)
    return index


def module_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    return lzma.decompress(data) if path.endswith(".xz") else data


def depends(path: str) -> list[str]:
    data = module_bytes(path)
    m = re.search(rb"(?:^|\x00)depends=([^\x00]*)\x00", data)
    if not m or not m.group(1):
        return []
    return [d.decode().replace("-", "_") for d in m.group(1).split(b",") if d]


def load_order(index: dict[str, str], builtin: set[str]) -> list[str]:
    order: list[str] = []

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if name in order or name in builtin:
            return
        if name not in index:
            sys.exit(f"build-vm-initramfs: module {name} not found (needed by {' <- '.join(chain)})")
        for dep in depends(index[name]):
            visit(dep, chain + (name,))
        order.append(name)

    for name in WANTED:
        visit(name, ("initramfs",))
    return order


class Cpio:
    def __init__(self) -> None:
        self.out = bytearray()
        self.ino = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        fields = [self.ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1],
                  len(name) + 1, 0]
        self.ino += 1
        self.out += b"070701" + b"".join(b"%08X" % v for v in fields)
        self.out += name.encode() + b"\x00"
        self.out += b"\x00" * (-len(self.out) % 4)
        self.out += data
        self.out += b"\x00" * (-len(self.out) % 4)

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return bytes(self.out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel-root", required=True)
    ap.add_argument("--release", required=True)
    ap.add_argument("--agent", required=True)
    ap.add_argument("--vmlinuz", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    moddir = os.path.join(a.kernel_root, "lib", "modules", a.release)
    builtin = set()
    with open(os.path.join(moddir, "modules.builtin")) as f:
        for line in f:
            name = os.path.basename(line.strip())
            builtin.add(name[:name.index(".ko")].replace("-", "_") if ".ko" in name else name)
    index = module_index(moddir)
    order = load_order(index, builtin)

    cpio = Cpio()
    for d in ("dev", "proc", "sys", "root", "lib", "lib/modules"):
        cpio.add(d, 0o40755)
    cpio.add("dev/console", 0o20600, rdev=(5, 1))
    with open(a.agent, "rb") as f:
        cpio.add("init", 0o100755, f.read())
    listing = []
    for name in order:
        cpio.add(f"lib/modules/{name}.ko", 0o100644, module_bytes(index[name]))
        listing.append(f"/lib/modules/{name}.ko")
    cpio.add("modules.list", 0o100644, ("\n".join(listing) + "\n").encode())
    tmp = os.path.join(a.out, "initramfs.cpio.tmp")
    with open(tmp, "wb") as f:
        f.write(cpio.finish())
    os.replace(tmp, os.path.join(a.out, "initramfs.cpio"))

    with open(a.vmlinuz, "rb") as f:
        vmlinux = extract_vmlinux(f.read())
    tmp = os.path.join(a.out, "vmlinux.tmp")
    with open(tmp, "wb") as f:
        f.write(vmlinux)
    os.replace(tmp, os.path.join(a.out, "vmlinux"))
    print(f"build-vm-initramfs: modules {' '.join(order)}")


if __name__ == "__main__":
    main()
