"""Whether this host can run a KVM guest: the CPU's virtualisation flags and a working /dev/kvm.

Measured on the nested hosts lxcri is developed on: /dev/kvm opens and KVM_CREATE_VM
succeeds, but the CPU shows neither vmx nor svm (a nested PVM mode): QEMU's `-cpu host`
aborts there and stock kernels do not boot. So KVM counts only when cpuinfo has one of
the flags AND /dev/kvm answers KVM_GET_API_VERSION; everything else means emulation (TCG).
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Tuple

KVM_GET_API_VERSION = 0xAE00  # _IO(KVMIO, 0x00)
KVM_API_VERSION = 12


def cpu_flags(cpuinfo: str) -> set[str]:
    """The flags of the first processor in /proc/cpuinfo's text."""
    for line in cpuinfo.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def choose(cpuinfo: str, kvm_api: Optional[int]) -> Tuple[str, str]:
    """("kvm" | "tcg", why) from cpuinfo's text and /dev/kvm's API version (None: unusable)."""
    flags = cpu_flags(cpuinfo) & {"vmx", "svm"}
    if not flags:
        if kvm_api is not None:
            return "tcg", ("the CPU offers no vmx/svm, so /dev/kvm is a nested mode stock "
                           "kernels cannot boot in: emulating (TCG)")
        return "tcg", "the CPU offers no vmx/svm and there is no /dev/kvm: emulating (TCG)"
    if kvm_api != KVM_API_VERSION:
        return "tcg", (f"the CPU offers {'/'.join(sorted(flags))} but /dev/kvm is missing or "
                       "unusable (load kvm_intel/kvm_amd): emulating (TCG)")
    return "kvm", f"the CPU offers {'/'.join(sorted(flags))} and /dev/kvm works: KVM"


def kvm_api_version(path: str = "/dev/kvm") -> Optional[int]:
    """KVM_GET_API_VERSION of /dev/kvm (reads the host); None when it cannot be opened."""
    import fcntl
    import os

    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return int(fcntl.ioctl(fd, KVM_GET_API_VERSION))
    except OSError:
        return None
    finally:
        os.close(fd)


def host_accel() -> Tuple[str, str]:
    """choose() for this host."""
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
    except OSError:
        cpuinfo = ""
    return choose(cpuinfo, kvm_api_version())
