"""The vm backend: each OCI container in its own QEMU microvm (KVM where the CPU has it, else TCG).

The guest is Debian's generic kernel and an initramfs whose /init is lxcri's static
agent (guest/agent.c); the container's rootfs and bind mounts reach it over virtio-9p,
its stdio and exit code over virtio-serial ports. A per-container monitor process
(monitor.py) owns QEMU; backend.py is the Backend, spec.py maps config.json onto the VM
and refuses what a VM cannot honour, guest.py finds the guest files, QEMU and the
accelerator, cgroup.py puts QEMU into a memory cgroup. See README "The vm backend".
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple


def availability(options: Optional[Dict[str, Any]] = None) -> Tuple[bool, str]:
    """(True, "QEMU, the guest kernel, KVM or TCG and why") or (False, why not and the fix)."""
    from lxcri.backends.vm import guest

    options = dict(options or {})
    qemu, why = guest.find_qemu(options)
    if qemu is None:
        return False, why
    guest_dir, release = guest.find_guest(options)
    if guest_dir is None:
        return False, release
    accel, why = guest.accel(options)
    return True, f"{qemu}, guest kernel {release} from {guest_dir}; {accel}: {why}"


def VmBackend(root: str, **kwargs: Any) -> Any:  # noqa: N802 - the registry's factory name
    """The backend (imported on first use: the CLI's other paths never load it)."""
    from lxcri.backends.vm.backend import VmBackend as Backend

    return Backend(root, **kwargs)
