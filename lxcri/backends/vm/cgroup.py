"""The memory cgroup a vm container's monitor and QEMU live in, so that the node accounts for the VM.

One directory in the memory controller's hierarchy: cgroup v2's unified one where it has
the memory controller (Proxmox VE, pure v2), else v1's memory hierarchy (this hybrid
development host). Its path is the config's linux.cgroupsPath when that is a cgroupfs
path, else lxcri-vm/<id>. With a memory limit it is set to the guest's RAM plus QEMU's
own overhead (lxcri.backends.vm.guest.OVERHEAD_MIB), so the guest sees the container's
limit as its MemTotal and the host kills the VM, not a neighbour, if QEMU outgrows it.
"""
from __future__ import annotations

import os

from lxcri.errors import LxcriError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional


def memory_root() -> Optional[Dict[str, Any]]:
    """{"root": mount point, "v2": bool} of the hierarchy holding the memory controller."""
    from lxcri.host import cgroups, mountinfo

    mounts = mountinfo.parse(mountinfo.read())
    where = cgroups.controller_mounts(mounts)
    v2 = where.get("")
    if v2 is not None:
        text = cgroups.v2_controllers(mounts) or ""
        if "memory" in text.split():
            return {"root": v2, "v2": True}
    if "memory" in where:
        return {"root": where["memory"], "v2": False}
    return None


def create(id: str, cgroups_path: Optional[str], limit_bytes: Optional[int]) -> Optional[str]:
    """Make the container's cgroup (and set its limit); its directory, or None when the host
    has no memory controller and no limit is asked for."""
    found = memory_root()
    if found is None:
        if limit_bytes is not None:
            raise LxcriError(f"cannot create container `{id}`: the host has no memory cgroup "
                             "controller to hold the VM's memory limit")
        return None
    rel = (cgroups_path or f"lxcri-vm/{id}").strip("/")
    path = os.path.join(found["root"], rel)
    try:
        if found["v2"]:
            # Each level must hand the memory controller down to the next.
            parent = found["root"]
            for part in rel.split("/")[:-1] + [""]:
                try:
                    with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                        f.write("+memory")
                except OSError:
                    pass
                if part:
                    parent = os.path.join(parent, part)
                    os.makedirs(parent, exist_ok=True)
        os.makedirs(path, exist_ok=True)
        if limit_bytes is not None:
            name = "memory.max" if found["v2"] else "memory.limit_in_bytes"
            with open(os.path.join(path, name), "w") as f:
                f.write(str(limit_bytes))
    except OSError as exc:
        remove(path)
        raise LxcriError(f"cannot create container `{id}`: its memory cgroup {path}: "
                         f"{exc.strerror}", errno=exc.errno, container_id=id) from None
    return path


def join(path: str, pid: int) -> None:
    with open(os.path.join(path, "cgroup.procs"), "w") as f:
        f.write(str(pid))


def remove(path: Optional[str]) -> None:
    """Remove the cgroup (its processes have ended), and lxcri-vm above it once empty."""
    import errno
    import time

    if not path:
        return
    deadline = time.monotonic() + 10
    while True:
        try:
            os.rmdir(path)
            break
        except OSError as exc:
            # EBUSY while the last exiting task (QEMU's threads) is still leaving it.
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                return
            time.sleep(0.05)
    try:
        parent = os.path.dirname(path)
        if os.path.basename(parent) == "lxcri-vm":
            os.rmdir(parent)  # fails while another container's cgroup is in it
    except OSError:
        pass
