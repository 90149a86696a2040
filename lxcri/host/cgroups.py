"""The host's cgroups: the mode (v1, v2, hybrid), where each controller lives, a process's cgroups.

Everything here is computed from text the caller passes (mountinfo, /proc/PID/cgroup,
cgroup.controllers) where it can be, so it is tested on other hosts' layouts; the
few functions that read the host say so.
"""
from __future__ import annotations

import os

from lxcri.host import mountinfo as mountinfo_mod
from lxcri.host import procfs

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


def process_paths(cgroup_text: str) -> Dict[str, str]:
    """Controller (or "" for v2) -> the process's cgroup path, from /proc/PID/cgroup text
    ("4:memory:/lxc/c1", "0::/init.scope", "1:name=systemd:/")."""
    paths: Dict[str, str] = {}
    for line in cgroup_text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for name in (controllers.split(",") if controllers else [""]):
            paths[name] = path
    return paths


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

def cgroupfs_path(id: str, cgroups_path: Optional[str]) -> str:
    """The cgroup path libcrun's cgroupfs manager uses for container `id` (below every
    hierarchy's root): linux.cgroupsPath made absolute, else /<id>. runc does the same."""
    if not cgroups_path:
        return "/" + id
    return cgroups_path if cgroups_path.startswith("/") else "/" + cgroups_path


def cgroups_path_problem(cgroups_path: str) -> Optional[str]:
    """Why linux.cgroupsPath would reach outside the cgroup hierarchy (or name its root),
    or None when it stays below it. Checked on the text: a `..` component, joined to a
    hierarchy's mount point, leaves the cgroup filesystem (/sys/fs/cgroup/memory/../x is a
    directory of the tmpfs above it)."""
    if "\0" in cgroups_path:
        return "it holds a NUL byte"
    if ":" in cgroups_path and "/" not in cgroups_path:
        # systemd's slice:prefix:name; systemd itself refuses what is not a unit name.
        parts = cgroups_path.split(":")
        if any(p in (".", "..") for p in parts):
            return "a `..` or `.` part leaves the cgroup hierarchy"
        return None
    components = [c for c in cgroups_path.split("/") if c]
    if ".." in components:
        return "a `..` component leaves the cgroup hierarchy"
    if not components or all(c == "." for c in components):
        return "it names the root of the cgroup hierarchy, which holds every process of the host"
    return None


def hierarchy_mounts(mounts: List[Mount]) -> List[str]:
    """The mount point of every cgroup hierarchy (v1 and v2), each once, in mount order."""
    points: List[str] = []
    for mount in mounts:
        if mount.fstype in ("cgroup", "cgroup2") and mount.point not in points:
            points.append(mount.point)
    return points


def host_hierarchy_mounts() -> List[str]:
    """hierarchy_mounts() of this host (reads /proc/self/mountinfo)."""
    return hierarchy_mounts(mountinfo_mod.parse(mountinfo_mod.read()))


def path_dirs(path: str, mount_points: List[str]) -> List[str]:
    """The directory of cgroup `path` on each hierarchy. `path` must have passed
    cgroups_path_problem(): it is joined as text."""
    rel = "/".join(c for c in path.split("/") if c and c != ".")
    return [f"{point}/{rel}" for point in mount_points]


def own_paths(mounts: List[Mount], cgroup_text: str) -> Dict[str, str]:
    """Hierarchy mount point -> the cgroup path there of the process whose /proc/PID/cgroup
    text is `cgroup_text` (v1: matched by the mount's controllers or name=; v2: `0::`)."""
    paths = process_paths(cgroup_text)
    own: Dict[str, str] = {}
    for mount in mounts:
        if mount.fstype == "cgroup2" and "" in paths:
            own.setdefault(mount.point, paths[""])
        elif mount.fstype == "cgroup":
            for opt in mount.options:
                if opt in paths:
                    own.setdefault(mount.point, paths[opt])
                    break
    return own


def container_dirs(runtime: str, id: str, cgroups_path: Optional[str], mounts: List[Mount],
                   cgroup_text: str) -> List[str]:
    """The cgroup directories, one per hierarchy, that the cgroupfs manager of `runtime`
    ("crun" or "runc") gives container `id`: libcrun makes linux.cgroupsPath absolute
    (default /<id>); runc joins a relative one (default <id>) to its own cgroup on each
    hierarchy, the cgroups of the lxcri process that runs it (`cgroup_text`)."""
    points = hierarchy_mounts(mounts)
    if runtime != "runc" or (cgroups_path or "").startswith("/"):
        return path_dirs(cgroupfs_path(id, cgroups_path), points)
    own = own_paths(mounts, cgroup_text)
    rel = cgroups_path or id
    return [path_dirs(f"{own.get(point, '/')}/{rel}", [point])[0] for point in points]


def below_a_hierarchy(directory: str, mount_points: List[str]) -> bool:
    """Whether `directory` is a cgroup strictly below one of the hierarchies' roots (what a
    record or a status file may name for lxcri to kill and remove; anything else is not)."""
    if "/../" in directory + "/" or "/./" in directory + "/":
        return False
    return any(directory.startswith(point + "/") and directory != point + "/"
               for point in mount_points)


def existing(dirs: List[str]) -> List[str]:
    """The directories of `dirs` that exist (reads the host)."""
    return [d for d in dirs if os.path.isdir(d)]


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
