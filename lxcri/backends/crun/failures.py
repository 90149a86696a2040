"""libcrun's errors as lxcri's, without libcrun: error() and classify() turn an errno and
a message into an lxcri.errors exception, explained (the hook, the rlimit or the full disk
behind it). Imported only once a call failed (see lxcri.backends.crun.messages).
"""
from __future__ import annotations

import errno as errno_mod
import os

from lxcri.errors import (
    CgroupError,
    ContainerExists,
    HookFailed,
    InvalidBundle,
    LxcriError,
    ResourceExhausted,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence

    from lxcri.backends.crun.messages import Logged

HYBRID_CGROUP_HINT = (
    "this host mounts cgroup v1 and v2 side by side with controllers enabled on v2, "
    "which libcrun refuses; move them off v2, e.g. for hugetlb: "
    "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb "
    "(Proxmox VE 7+ uses pure cgroup v2 and is not affected)")

def error(status: int, msg: str, what: str = "", container_id: Optional[str] = None, *,
          call: Optional[Logged] = None, config_path: Optional[str] = None,
          root: Optional[str] = None) -> LxcriError:
    """The exception for libcrun's error (errno `status`, text `msg`), explained as check()
    explains it; the kept messages the error does not already say are shown."""
    logged = call.lines() if call is not None else []
    told: List[str] = []
    found: Optional[LxcriError] = None
    hook = _hook_failure(msg, logged, config_path)
    if hook is not None:
        told = [line for line in logged if line.startswith(("error executing hook",
                                                            "timeout expired for"))]
        found = HookFailed(f"{what}: {hook}" if what else hook, errno=status or None,
                           container_id=container_id)
    else:
        if not msg and logged:
            msg = told_line = logged[-1]  # libcrun logged the cause but returned no error
            told = [told_line]
        if not msg:
            msg = ("libcrun failed without saying why (run with --debug and see its "
                   "messages)")
        if status:
            msg = f"{msg}: {os.strerror(status)}"
        found = _limit_failure(msg, status, what, container_id, config_path, root)
        if found is None:
            found = classify(msg, status, what, container_id)
    if call is not None:
        call.show(told)
    return found


def classify(msg: str, status: int, what: str, container_id: Optional[str]) -> LxcriError:
    text = f"{what}: {msg}" if what else msg
    kw: Dict[str, Any] = {"errno": status or None, "container_id": container_id}
    if "hybrid mode not supported" in msg:
        return CgroupError(f"{text}; {HYBRID_CGROUP_HINT}", **kw)
    if "already exists" in msg and status in (0, errno_mod.EEXIST):
        return ContainerExists(text, **kw)
    if msg.startswith("executable file") or "exec container process" in msg:
        return InvalidBundle(f"{text}; check process.args[0] in the bundle's config.json "
                             "(and PATH in process.env)", **kw)
    return LxcriError(text, **kw)


def _hook_failure(msg: str, logged: Sequence[str], config_path: Optional[str]) -> Optional[str]:
    """What a failing hook did, in words, from libcrun's error (a timeout) or its log line
    ("error executing hook `PATH` (exit code: N)"); None when no hook failed."""
    import re

    timeout = re.match(r"timeout expired for `(.*)`$", msg)
    if timeout is not None:
        path = timeout.group(1)
        kinds = _hook_kinds(config_path, path)
        limit = kinds[0][1] if kinds and kinds[0][1] else None
        within = f"within its timeout of {limit} s" if limit else "within its timeout"
        return (f"{_hook_name(kinds, path)} did not finish {within} and was killed; "
                f"{_hook_hint(kinds, config_path)}")
    # createContainer and startContainer hooks fail inside the container's init, which
    # sends the line back as the error; prestart and createRuntime ones are only logged.
    for line in [msg, *reversed(logged)]:
        found = re.match(r"error executing hook `(.*)` \(exit code: (-?\d+)\)", line)
        if found is None:
            continue
        path, code = found.group(1), int(found.group(2))
        kinds = _hook_kinds(config_path, path)
        how = _hook_exit(path, code)
        return f"{_hook_name(kinds, path)} {how}; {_hook_hint(kinds, config_path)}"
    return None


def _hook_kinds(config_path: Optional[str], path: str) -> List[Any]:
    if config_path is None:
        return []
    from lxcri.bundle import hooks_with_path

    return hooks_with_path(config_path, path)


def _hook_name(kinds: Sequence[Any], path: str) -> str:
    names = sorted({kind for kind, _timeout in kinds})
    if not names:
        return f"the hook {path}"
    return f"the {' or '.join(names)} hook {path}"


def _hook_hint(kinds: Sequence[Any], config_path: Optional[str]) -> str:
    names = sorted({kind for kind, _timeout in kinds})
    where = f"hooks.{names[0]}" if len(names) == 1 else "hooks"
    in_file = f" in {config_path}" if config_path else ""
    return f"fix the hook, or remove it from {where}{in_file}"


def _hook_exit(path: str, code: int) -> str:
    """How a hook ended, from libcrun's folded exit code (128+N for signal N, 1 when it
    could not be executed at all)."""
    if code == 1 and not os.path.exists(path):
        return "cannot be run: the file does not exist"
    if code == 1 and not os.access(path, os.X_OK):
        return "cannot be run: the file is not executable"
    if code == 1 and os.path.isdir(path):
        return "cannot be run: it is a directory"
    if code > 128:
        import signal

        try:
            name = signal.Signals(code - 128).name
        except ValueError:
            return f"exited with status {code}"
        return f"was killed by {name} (signal {code - 128}; or it exited with status {code})"
    if code < 0:
        return "could not be run"
    return f"exited with status {code}"


# The limits a runtime hits on the host (errno values; Linux).
_EMFILE, _ENFILE, _ENOSPC, _EDQUOT, _ENOMEM, _EPERM = 24, 23, 28, 122, 12, 1
def _limit_failure(msg: str, status: int, what: str, container_id: Optional[str],
                   config_path: Optional[str], root: Optional[str]) -> Optional[LxcriError]:
    """A failure caused by a limit (open files, disk space, memory) in one line that
    names it and says what to do; None when no limit explains it."""
    from lxcri.bundle import MIN_NOFILE

    prefix = f"{what}: " if what else ""
    nofile = _config_nofile(config_path) if status in (_EMFILE, _ENFILE) else None
    if nofile is not None and nofile < MIN_NOFILE:
        return ResourceExhausted(
            f"{prefix}process.rlimits sets RLIMIT_NOFILE to {nofile} in {config_path}; libcrun "
            "applies the container's rlimits to the runtime itself before the container "
            f"starts, and then failed ({msg}): raise it to at least {MIN_NOFILE}",
            errno=status or None, container_id=container_id)
    if status in (_ENOSPC,) and "/cgroup.procs" in msg and _own_nofile() < MIN_NOFILE:
        # libcrun could not open the parent's cpuset files to copy cpus and mems into the
        # new cgroup, went on, and the kernel refuses to put a task into an empty cpuset.
        status = _EMFILE
    if status in (_EMFILE, _ENFILE):
        scope = "the system" if status == _ENFILE else "this process"
        return ResourceExhausted(
            f"{prefix}{msg}: {scope} ran out of file descriptors; raise the open-files limit "
            "(`ulimit -n`, LimitNOFILE=) of whatever starts lxcri", errno=status,
            container_id=container_id)
    if status in (_ENOSPC, _EDQUOT) and root is not None and root in msg:
        return ResourceExhausted(
            f"{prefix}{msg}: the state root {root} is full; free space there or use "
            "another --root", errno=status, container_id=container_id)
    if status in (_ENOSPC, _EDQUOT) and "/cgroup.procs" not in msg and "/sys/fs/cgroup" not in msg:
        return ResourceExhausted(f"{prefix}{msg}: that file system is full; free space there",
                                 errno=status, container_id=container_id)
    if status == _EPERM and msg.startswith("setrlimit `"):
        return ResourceExhausted(
            f"{prefix}{msg}: process.rlimits asks for a hard limit above the runtime's own, "
            "which only CAP_SYS_RESOURCE may raise; lower it in config.json or raise the "
            "hard limit (`ulimit -H`) of whatever starts lxcri", errno=status,
            container_id=container_id)
    if status == _ENOMEM:
        return ResourceExhausted(f"{prefix}{msg}: out of memory", errno=status,
                                 container_id=container_id)
    return None


def _own_nofile() -> int:
    import resource

    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def _config_nofile(config_path: Optional[str]) -> Optional[int]:
    if config_path is None:
        return None
    from lxcri.bundle import rlimit_of

    return rlimit_of(config_path, "RLIMIT_NOFILE")
