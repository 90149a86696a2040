"""Cgroup paths and directories as a create needs them: the directories a container's
cgroupfs manager makes, and the checks of linux.cgroupsPath. Computed from text the
caller passes (mountinfo, /proc/PID/cgroup), but for existing(), which reads the host.

lxcri.host.cgroups holds the rest of what lxcri knows of the host's cgroups (and
offers these under the same names); these are apart so that a create does not load it.
"""
from __future__ import annotations

from lxcri import posixos

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

    from lxcri.host.mountinfo import Mount


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


def path_dirs(path: str, mount_points: List[str]) -> List[str]:
    """The directory of cgroup `path` on each hierarchy. `path` must have passed
    cgroups_path_problem(): it is joined as text."""
    rel = "/".join(c for c in path.split("/") if c and c != ".")
    return [f"{point}/{rel}" for point in mount_points]


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
    return [d for d in dirs if posixos.isdir(d)]
