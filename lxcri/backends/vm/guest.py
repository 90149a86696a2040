"""What the vm backend boots and with what: the guest files, the QEMU binary, KVM or TCG, QEMU's argv.

The guest files (vmlinux, initramfs.cpio, built) come from scripts/build-vm-guest.sh;
`make venv` installs them into <venv>/share/lxcri/vm. They are looked up in
[runtimes.vm] guest_dir, $LXCRI_VM_GUEST_DIR, share/lxcri/vm of the prefix lxcri is
installed in (found from this file's path: the sealed helper of lxcri.Runtime runs
an interpreter copy whose sys.prefix is the base Python's, not the venv's), of
sys.prefix, /usr/local/share/lxcri/vm and /usr/share/lxcri/vm, in that order.
"""
from __future__ import annotations

import os
import shutil
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

GUEST_FILES = ("vmlinux", "initramfs.cpio", "built")
# Under TCG the Debian kernel cannot calibrate the TSC on microvm without these.
TCG_CMDLINE = "tsc_early_khz=2000000 lpj=4000000 tsc=reliable"
TCG_TB_MIB = 128      # QEMU's translation cache under TCG (its default is 1 GiB)
# QEMU's own memory beside the guest's RAM, added to the cgroup limit (README).
OVERHEAD_MIB = {"tcg": 96 + TCG_TB_MIB, "kvm": 96}
EXEC_SLOTS = 8        # concurrent execs per container (slot 0 is the container's process)


def guest_dirs(options: Dict[str, Any]) -> List[str]:
    dirs = []
    if options.get("guest_dir"):
        dirs.append(str(options["guest_dir"]))
    if os.environ.get("LXCRI_VM_GUEST_DIR"):
        dirs.append(os.environ["LXCRI_VM_GUEST_DIR"])
    site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    if os.path.basename(site) in ("site-packages", "dist-packages"):
        dirs.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(site))),
                                 "share", "lxcri", "vm"))
    for d in (os.path.join(sys.prefix, "share", "lxcri", "vm"), "/usr/local/share/lxcri/vm",
              "/usr/share/lxcri/vm"):
        if d not in dirs:
            dirs.append(d)
    return dirs


def find_guest(options: Dict[str, Any]) -> Tuple[Optional[str], str]:
    """(the directory with the guest files, its kernel release) or (None, why not)."""
    for d in guest_dirs(options):
        if all(os.path.isfile(os.path.join(d, f)) for f in GUEST_FILES):
            with open(os.path.join(d, "built")) as f:
                return d, f.read().strip()
    return None, ("no guest kernel and initramfs (vmlinux, initramfs.cpio) in "
                  f"{', '.join(guest_dirs(options))}: run `make venv` (it builds them with "
                  "scripts/build-vm-guest.sh) or set [runtimes.vm] guest_dir")


def find_qemu(options: Dict[str, Any]) -> Tuple[Optional[str], str]:
    if options.get("qemu"):
        path = str(options["qemu"])
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, ""
        return None, (f"[runtimes.vm] qemu = {path!r} is not an executable file: fix the path "
                      "in lxcri.toml or remove it to use qemu-system-x86_64 from PATH")
    found = shutil.which("qemu-system-x86_64")
    if found:
        return found, ""
    return None, ("qemu-system-x86_64 not found: install Debian's qemu-system-x86 "
                  "(`make test-deps` does) or set [runtimes.vm] qemu")


def accel(options: Dict[str, Any]) -> Tuple[str, str]:
    """("kvm" | "tcg", why): [runtimes.vm] accel = "auto" (default), "kvm" or "tcg"."""
    from lxcri.host import kvm

    choice = options.get("accel", "auto")
    if choice == "tcg":
        return "tcg", "[runtimes.vm] accel = \"tcg\": emulating (TCG)"
    found, why = kvm.host_accel()
    if choice == "kvm" and found != "kvm":
        return "tcg", f"[runtimes.vm] accel = \"kvm\", but {why}"
    return found, why


def _opt(value: str) -> str:
    """A value inside a QEMU option list: commas are doubled."""
    return value.replace(",", ",,")


def qemu_argv(qemu: str, guest_dir: str, plan: Dict[str, Any], *, accel_name: str,
              slot_fds: List[int], qmp_fd: int, console: str, name: str) -> List[str]:
    """QEMU's command line: microvm, the kernel and initramfs, one virtio-serial port per slot
    (chardevs on connected sockets the monitor holds the other ends of), a 9p share per
    entry of plan["shares"], QMP on qmp_fd, the serial console appended to `console`, and
    a user-mode NIC when plan["network"] is "user"."""
    cmdline = ["console=ttyS0", "quiet", "panic=-1", "reboot=t", "mitigations=off",
               f"lxcri.slots={len(slot_fds)}"]
    if plan.get("network") == "user":
        cmdline.append("lxcri.net=user")
    if accel_name == "tcg":
        cmdline.append(TCG_CMDLINE)
        accel_arg = f"tcg,tb-size={TCG_TB_MIB}"
        cpu = "max"
    else:
        accel_arg = "kvm"
        cpu = "host"
    argv = [qemu, "-name", name, "-machine", "microvm,rtc=on", "-accel", accel_arg,
            "-cpu", cpu, "-smp", str(plan["vcpus"]), "-m", f"{plan['memory_mib']}M",
            "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-kernel", os.path.join(guest_dir, "vmlinux"),
            "-initrd", os.path.join(guest_dir, "initramfs.cpio"),
            "-append", " ".join(cmdline),
            "-chardev", f"file,id=console,path={_opt(console)},append=on",
            "-serial", "chardev:console",
            "-chardev", f"socket,id=qmp,fd={qmp_fd}", "-mon", "chardev=qmp,mode=control",
            "-device", f"virtio-serial-device,max_ports={len(slot_fds) + 1}"]
    for i, fd in enumerate(slot_fds):
        argv += ["-chardev", f"socket,id=slot{i},fd={fd}",
                 "-device", f"virtserialport,chardev=slot{i},name=lxcri.{i}"]
    if plan.get("network") == "user":
        argv += ["-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"]
    for share in plan["shares"]:
        ro = ",readonly=on" if share["readonly"] else ""
        argv += ["-fsdev", f"local,id={share['tag']},path={_opt(share['path'])},"
                           f"security_model=passthrough{ro}",
                 "-device", f"virtio-9p-device,fsdev={share['tag']},mount_tag={share['tag']}"]
    return argv
