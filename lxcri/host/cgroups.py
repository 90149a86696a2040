"""The host's cgroups: the mode (v1, v2, hybrid), where each controller lives, a process's cgroups.

Everything here is computed from text the caller passes (mountinfo, /proc/PID/cgroup,
cgroup.controllers) where it can be, so it is tested on other hosts' layouts; the
few functions that read the host say so. The paths and directories a create needs are
in lxcri.host.cgroup_paths.
"""
from __future__ import annotations

import os

from lxcri.host import mountinfo as mountinfo_mod
from lxcri.host import procfs
from lxcri.host.cgroup_paths import existing, hierarchy_mounts, process_paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from lxcri.host.mountinfo import Mount

CGROUP_ROOT = "/sys/fs/cgroup"
# Where Proxmox VE (cgroup v2) puts a CT's processes on its node: <PVE_CT_ROOT>/<vmid>.
PVE_CT_ROOT = CGROUP_ROOT + "/lxc"
# Mount options of a v1 hierarchy that are not controllers.
_NOT_CONTROLLERS = ("rw", "ro", "relatime", "noexec", "nosuid", "nodev", "clone_children",
                    "noprefix", "xattr")


def v2_controllers(mounts: List[Mount]) -> Optional[str]:
    """The cgroup.controllers text of the first cgroup2 mount (reads the host); None without
    one, "" when unreadable."""
    for mount in mounts:
        if mount.fstype == "cgroup2":
            try:
                with open(os.path.join(mount.point, "cgroup.controllers")) as f:
                    return f.read()
            except OSError:
                return ""
    return None


def layout(mounts: List[Mount], v2_controllers_text: Optional[str] = None) -> Dict[str, Any]:
    """{"mode": v1|v2|hybrid|none, "v1_controllers", "v2_controllers", "v2_mount"}.

    v2_controllers_text: the v2 mount's cgroup.controllers (None: read it from the mount)."""
    top = next((m.fstype for m in mounts if m.point == CGROUP_ROOT), None)
    v1 = sorted({opt for m in mounts if m.fstype == "cgroup" for opt in m.options
                 if opt not in _NOT_CONTROLLERS and not opt.startswith("release_agent")})
    v2_mount = next((m.point for m in mounts if m.fstype == "cgroup2"
                     and (m.point == CGROUP_ROOT or m.point.startswith(CGROUP_ROOT + "/"))), None)
    if top == "cgroup2":
        mode = "v2"
    elif v2_mount is not None and v1:
        mode = "hybrid"
    elif v1:
        mode = "v1"
    elif v2_mount is not None:
        mode = "v2"
    else:
        mode = "none"
    if v2_controllers_text is None and v2_mount is not None:
        v2_controllers_text = v2_controllers(mounts) or ""
    return {"mode": mode, "v1_controllers": v1,
            "v2_controllers": sorted((v2_controllers_text or "").split()), "v2_mount": v2_mount}


def host_layout() -> Dict[str, Any]:
    """layout() of this host; {"mode": "unknown", "error": ...} when /proc cannot tell."""
    text = mountinfo_mod.read()
    if not text:
        return {"mode": "unknown", "error": "cannot read /proc/self/mountinfo"}
    return layout(mountinfo_mod.parse(text))


def hierarchies(mountinfo: str, v2_controllers: Optional[str] = None) -> Dict[str, int]:
    """Which hierarchy each controller lives on: {"memory": 1, "pids": 2, ...}.

    mountinfo: the text of /proc/self/mountinfo. v2_controllers: the unified
    hierarchy's cgroup.controllers text (None: every controller not mounted on
    v1 is taken to be on v2 when a cgroup2 mount exists).
    """
    found: Dict[str, int] = {}
    have_v2 = False
    for mount in mountinfo_mod.parse(mountinfo):
        if mount.fstype == "cgroup":
            for opt in mount.options:
                if opt not in ("rw", "ro") and "=" not in opt:
                    found[opt] = 1
        elif mount.fstype == "cgroup2":
            have_v2 = True
    if have_v2 and v2_controllers is not None:
        for name in v2_controllers.split():
            found.setdefault(name, 2)
    elif have_v2:
        for name in ("cpu", "cpuset", "memory", "pids", "io", "hugetlb", "rdma", "misc"):
            found.setdefault(name, 2)
    if have_v2:
        # devices and freezer are built into v2 (bpf, cgroup.freeze), not listed controllers.
        found.setdefault("devices", 2)
        found.setdefault("freezer", 2)
    return found


def host_hierarchies() -> Dict[str, int]:
    """hierarchies() of this host, read from /proc/self/mountinfo and the v2 mount."""
    text = mountinfo_mod.read()
    return hierarchies(text, v2_controllers(mountinfo_mod.parse(text)))


def controller_mounts(mounts: List[Mount]) -> Dict[str, str]:
    """Controller name (or "" for the unified hierarchy) -> its mount point (the first)."""
    out: Dict[str, str] = {}
    for mount in mounts:
        if mount.fstype == "cgroup2":
            out.setdefault("", mount.point)
        elif mount.fstype == "cgroup":
            for opt in mount.options:
                out.setdefault(opt, mount.point)
    return out


def directories(cgroup_text: str, mounts: List[Mount]) -> Dict[str, str]:
    """Controller (or "" for v2) -> the host directory of the process's cgroup there."""
    where = controller_mounts(mounts)
    dirs: Dict[str, str] = {}
    for name, path in process_paths(cgroup_text).items():
        if name in where:
            dirs[name] = where[name] + path.rstrip("/") if path != "/" else where[name]
    return dirs


def cgroup_dirs(pid: int) -> Dict[str, str]:
    """directories() of process pid on this host."""
    return directories(procfs.cgroup(pid), mountinfo_mod.parse(mountinfo_mod.read()))


def cgroup_pids(directory: str) -> List[int]:
    """Every pid in the cgroup at `directory` and the cgroups below it (reads the host)."""
    pids: List[int] = []
    for dirpath, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            text = procfs.read_text(os.path.join(dirpath, "cgroup.procs")) or ""
            pids.extend(int(p) for p in text.split())
    return pids


def pve_ct_pids(vmid: int) -> List[int]:
    """Every pid of Proxmox CT vmid on this node, sorted, from the cgroups under
    PVE_CT_ROOT/vmid (reads the host); a cgroup.procs that cannot be read is skipped."""
    pids: List[int] = []
    for dirpath, _dirs, files in os.walk(os.path.join(PVE_CT_ROOT, str(vmid))):
        if "cgroup.procs" in files:
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    pids.extend(int(line) for line in f if line.strip())
            except (OSError, ValueError):
                continue
    return sorted(set(pids))


# -- a container's cgroups, found and removed without libcrun ----------------------------------
#
# libcrun's status file names a container's cgroup; when that file is missing (a create killed
# half-way) or corrupt, lxcri finds the cgroup from its own record instead, and removes it here.


def host_hierarchy_mounts() -> List[str]:
    """hierarchy_mounts() of this host (reads /proc/self/mountinfo)."""
    return hierarchy_mounts(mountinfo_mod.parse(mountinfo_mod.read()))


def thaw(directory: str) -> None:
    """Thaw a frozen cgroup so that its processes can die (a frozen task does not act on
    SIGKILL): v1 freezer.state, v2 cgroup.freeze; anything else is ignored (reads the host)."""
    for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            try:
                with open(path, "w") as f:
                    f.write(value)
            except OSError:
                pass


def kill_all(dirs: List[str], signal: int) -> List[int]:
    """Send `signal` to every process in the cgroups at `dirs` and below them; the pids
    signalled (reads and signals the host)."""
    sent: List[int] = []
    for directory in dirs:
        for dirpath, _dirs, _files in os.walk(directory):
            thaw(dirpath)
        for pid in cgroup_pids(directory):
            if pid in sent:
                continue
            try:
                os.kill(pid, signal)
                sent.append(pid)
            except ProcessLookupError:
                pass
    return sent


def remove(dirs: List[str], timeout: float = 10.0) -> List[str]:
    """Kill every process in the cgroups at `dirs` (and below), then remove them, deepest
    first; the directories that could not be removed (reads and changes the host)."""
    import signal as signal_mod
    import time

    deadline = time.monotonic() + timeout
    left = existing(dirs)
    while left:
        kill_all(left, signal_mod.SIGKILL)
        still: List[str] = []
        for directory in left:
            for dirpath, _dirs, _files in sorted(os.walk(directory), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:  # EBUSY: a process has not left yet
                    still.append(directory)
                    break
        left = existing(still)
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    return left
