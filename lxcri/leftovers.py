"""What a create killed half-way, a failed create, or a container with corrupt state files leaves
behind: how lxcri reports it, and removing it without the backend's help.

libcrun (and runc) find a container through its status file. A create killed before that
file is written leaves `<root>/<id>/` (config.json, exec.fifo), cgroups on every hierarchy
and sometimes the container's init blocked on exec.fifo, none of which libcrun will ever
look at again; a corrupt status file makes libcrun's `delete --force` remove the state
directory and nothing else. lxcri's ownership record (lxcri.dispatch.Record), written
before the backend is called, says which process was creating the container, its bundle
and its cgroup, so that what is left can be named and removed here:

    status (state / list)
      creating  the create is still in progress: the creating lxcri process is alive
      stopped   (`state`) / broken (`list`): that process is gone and the container was
                never made whole; `delete` (with or without --force) removes what it left
      corrupt   (`list`): a state file cannot be read; `state`, `kill` and plain `delete`
                refuse with one line naming the file, `delete --force` removes it

Removing: the creating process (when alive: pid and start time must match), the init named
by a readable status file, every process in the container's cgroups on every hierarchy
(frozen ones thawed first), the cgroups themselves, the backend's state directory, the record.
"""
from __future__ import annotations

import os

from lxcri.backends import (
    OCI_BACKENDS,
    PRIVATE_DIR,
    RuntimeType,
    state_dir,
)
from lxcri.errors import LxcriError, StateCorrupt

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

    from lxcri.dispatch import Owners, Record

BROKEN = "broken"    # list's status of a create that was killed half-way
CORRUPT = "corrupt"  # list's status of a container whose state files cannot be read

def creator_alive(record: Record) -> bool:
    """Whether the lxcri process that wrote the record's intent is still running."""
    from lxcri.host import procfs

    pid, start = record.creator
    return pid > 0 and start is not None and procfs.starttime(pid) == start


def describe(record: Record) -> str:
    """What the record says of an unfinished create, for messages."""
    pid, _ = record.creator
    if creator_alive(record):
        return f"it is still being created by lxcri process {pid}"
    return (f"its create was interrupted (lxcri process {pid} ended before the container "
            "was made whole)")


def corrupt_record(record: Record) -> StateCorrupt:
    return StateCorrupt(f"container `{record.id}`: lxcri's record {record.path} is corrupt "
                        f"({record.problem}); `lxcri delete --force {record.id}` removes the "
                        "container and what it left", container_id=record.id)


def interrupted_state(record: Record) -> Dict[str, Any]:
    """The OCI state of an unfinished create: `creating` while its creator lives, else
    `stopped`, with lxcri's explanation in `lxcri.problem`."""
    alive = creator_alive(record)
    doc: Dict[str, Any] = {"ociVersion": "1.0.0", "id": record.id, "pid": 0,
                           "status": "creating" if alive else "stopped",
                           "bundle": record.bundle}
    if not alive:
        doc["lxcri.problem"] = (f"{describe(record)}; `lxcri delete {record.id}` removes "
                                "what it left")
    return doc


def listed_state(record: Record) -> Dict[str, Any]:
    """The `list` entry of an id only lxcri's record knows: creating, broken or corrupt."""
    if record.problem is not None:
        return {"ociVersion": "", "id": record.id, "pid": 0, "status": CORRUPT, "bundle": "",
                "lxcri.problem": corrupt_record(record).message}
    doc = interrupted_state(record)
    if doc["status"] == "stopped":
        doc["status"] = BROKEN
    return doc


# -- reading what the backend's own state files still say --------------------------------------

def _json_file(path: str) -> Any:
    from lxcri import jsonlite

    try:
        with open(path, "rb") as f:
            return jsonlite.loads(f.read(1 << 22))
    except (OSError, ValueError, RecursionError):
        return None


def _cgroup_dirs_from_state(runtime: str, directory: str, mounts: List[str]) -> List[str]:
    """The cgroup directories a readable status file names, kept only when they lie below a
    cgroup hierarchy (a corrupt file could name anything)."""
    from lxcri.host import cgroup_paths

    if runtime == RuntimeType.CRUN:
        doc = _json_file(os.path.join(directory, "status"))
        path = doc.get("cgroup-path") if isinstance(doc, dict) else None
        if isinstance(path, str) and path and cgroup_paths.cgroups_path_problem(path) is None:
            return cgroup_paths.path_dirs(path, mounts)
        return []
    doc = _json_file(os.path.join(directory, "state.json"))
    paths = doc.get("cgroup_paths") if isinstance(doc, dict) else None
    return [value for value in (paths.values() if isinstance(paths, dict) else ())
            if isinstance(value, str) and cgroup_paths.below_a_hierarchy(value, mounts)]


def cgroup_dirs_in_state(root: str, runtime: str, id: str) -> List[str]:
    """The cgroup directories the backend's state file of `id` names (below a hierarchy)."""
    from lxcri.host import cgroups

    directory = state_dir(root, runtime, id)
    if directory is None:
        return []
    return _cgroup_dirs_from_state(runtime, directory, cgroups.host_hierarchy_mounts())


def _init_from_state(runtime: str, directory: str) -> tuple[int, Optional[str]]:
    """(pid, start time) of the container's init as a readable status file names it."""
    if runtime == RuntimeType.CRUN:
        doc = _json_file(os.path.join(directory, "status"))
        keys = ("pid", "process-start-time")
    else:
        doc = _json_file(os.path.join(directory, "state.json"))
        keys = ("init_process_pid", "init_process_start")
    if not isinstance(doc, dict):
        return 0, None
    pid, start = doc.get(keys[0]), doc.get(keys[1])
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return 0, None
    return pid, (str(start) if isinstance(start, int) and start > 0 else None)


def _kill_process(pid: int, start: Optional[str]) -> None:
    """SIGKILL process pid if it is still the one that started at `start`, and wait for it."""
    import signal

    from lxcri.host.real import Host

    host = Host()
    if pid <= 1 or pid == os.getpid() or not host.alive(pid, start):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    host.wait_gone(pid, start, 10.0)


# -- removing -------------------------------------------------------------------------------------

def remove(root: str, id: str, owners: Owners, record: Optional[Record], *,
           runtimes: Optional[List[str]] = None, failed_create: bool = False) -> None:
    """Remove what container `id` left under `root` and in the cgroups, and its record.

    runtimes: the backends whose state directories to look at (default: the record's, or
    every OCI backend when the record cannot say). failed_create: only what the failed
    attempt made itself (not the record's cgroup_old, a state directory only when
    state_new), not what was there before it. Raises LxcriError when a cgroup cannot be removed.
    """
    from lxcri.host import cgroup_paths, cgroups

    usable = record is not None and record.problem is None
    if runtimes is None:
        runtimes = [record.runtime] if usable and record is not None and record.runtime \
            else list(OCI_BACKENDS)
    runtimes = [r for r in runtimes if r in OCI_BACKENDS]
    if usable and record is not None and record.creator[0] != os.getpid() and \
            creator_alive(record):
        _kill_process(*record.creator)  # a create still running would go on making things
    from lxcri.host import mountinfo, procfs

    parsed = mountinfo.parse(mountinfo.read())
    mounts = cgroup_paths.hierarchy_mounts(parsed)
    dirs: List[str] = []
    directories = []
    for runtime in runtimes:
        directory = state_dir(root, runtime, id)
        if directory is None or not os.path.isdir(directory):
            continue
        if failed_create and not (usable and record is not None and record.state_new):
            continue  # there before this attempt: not the attempt's to remove
        directories.append(directory)
        _kill_process(*_init_from_state(runtime, directory))
        dirs += _cgroup_dirs_from_state(runtime, directory, mounts)
        if not usable:
            # No record to ask: the cgroups the backend uses when config.json names none.
            dirs += cgroup_paths.container_dirs(runtime, id, None, parsed, procfs.cgroup())
    if usable and record is not None:
        old = record.cgroup_old if failed_create else []
        dirs += [d for d in record.cgroup_dirs if d not in old]
    # Only cgroups below a hierarchy's root: a record or status file naming anything else
    # is not followed.
    left = cgroups.remove(sorted({d for d in dirs if cgroup_paths.below_a_hierarchy(d, mounts)}))
    if left:
        raise LxcriError(f"cannot remove the cgroups of container `{id}`: {', '.join(left)} "
                         "still hold processes that do not die (check them with "
                         f"`cat {left[0]}/cgroup.procs`)", container_id=id)
    for directory in directories:
        _remove_tree(directory)
    _sweep_dead_logs(os.path.join(root, PRIVATE_DIR))
    owners.release(id)


def _sweep_dead_logs(private_dir: str) -> None:
    """Remove the runtime-binary logs (`.<runtime>-<pid>-<n>.log`, lxcri.backends.oci_binary)
    of lxcri processes killed before they could remove them."""
    try:
        names = os.listdir(private_dir)
    except OSError:
        return
    for name in names:
        parts = name[1:-len(".log")].split("-") if name.startswith(".") and \
            name.endswith(".log") else []
        if len(parts) == 3 and parts[0] in OCI_BACKENDS and parts[1].isdigit() and \
                not os.path.exists(f"/proc/{parts[1]}"):
            try:
                os.unlink(os.path.join(private_dir, name))
            except FileNotFoundError:
                pass


def _remove_tree(directory: str) -> None:
    import shutil

    try:
        shutil.rmtree(directory)
    except FileNotFoundError:
        pass
