"""The cgroup warm-ups: the launcher's child, ended before the backend runs, and the
library's thread (nudge).

For create, run and exec the native launcher (launcher/lxcri.c) forks a child that
moves itself into its own cgroup on a cgroup v1 hierarchy, so that the kernel's grace
period for cgroup moves is over by the time libcrun moves the container's process. It
passes the child's pid in LXCRI_WARMUP_PID. `take` removes the variable from the
environment first thing (nothing this process starts inherits it); `stop` ends and
reaps the child right before the backend is called: a foreground run waits for every
child of the process, and the kernel stays ready for a grace period after the child's
last move, long enough for the backend's.

The library has no launcher: lxcri.Runtime calls `nudge` as its create, run or exec
begins, which moves a new thread of the process into the cgroup it is already in, so
the kernel's wait runs while the Runtime and the zygote prepare the container. Measured
here after 0.1 s idle: Runtime.run 24.3 ms without it, 11.7 ms with it (`crun run` 27.7);
back to back it changes nothing (7.2 ms either way).
"""
from __future__ import annotations

import posix

from lxcri import posixos

ENV = "LXCRI_WARMUP_PID"
ENABLE_ENV = "LXCRI_CGROUP_WARMUP"  # "0": no warm-up (the launcher reads it too)

_pid = 0


def take() -> None:
    """Take the child's pid out of the environment (called by lxcri._boot)."""
    global _pid
    value = posixos.popenv(ENV, "")
    _pid = int(value) if value.isdigit() else 0


def pending() -> bool:
    return _pid > 0


def stop() -> None:
    """End and reap the warm-up child, if there is one.

    Only a child of this process is signalled: the pid is checked against the parent
    field of /proc/PID/stat, and a child cannot be reaped (and its pid reused) before
    this, since nothing in the process waits for children before the backend runs.
    """
    global _pid
    pid, _pid = _pid, 0
    if pid <= 0:
        return
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[-1].split()
        if len(fields) < 2 or int(fields[1]) != posix.getpid():
            return
        posix.kill(pid, 9)
        posix.waitpid(pid, 0)
    except (OSError, ValueError):
        pass


_nudged = 0.0
# A move within this long keeps the kernel ready for the next one: no thread needed.
_NUDGE_INTERVAL_S = 0.004


def nudge() -> None:
    """Start the kernel's grace period for cgroup moves now, off this thread: a thread of
    its own moves itself (its tid, in `tasks`: only that thread, never the process) into
    the v1 cgroup it is in. Nothing happens without v1 hierarchies, when not root, or
    with LXCRI_CGROUP_WARMUP=0; a failure only costs the warm-up."""
    global _nudged
    import time

    if posixos.getenv(ENABLE_ENV) == "0" or posix.geteuid() != 0:
        return
    now = time.monotonic()
    if now - _nudged < _NUDGE_INTERVAL_S:
        return
    _nudged = now
    import _thread

    try:
        _thread.start_new_thread(_move_self, ())
    except RuntimeError:
        pass


def v1_tasks(cgroup_text: str) -> "str | None":
    """The `tasks` file of the first cgroup v1 hierarchy in a /proc/PID/cgroup text (as
    the launcher picks it: mounted at /sys/fs/cgroup/CONTROLLER), or None (cgroup v2 only)."""
    for line in cgroup_text.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" or not controllers or not path.startswith("/"):
            continue
        name = controllers[len("name="):] if controllers.startswith("name=") else controllers
        return f"/sys/fs/cgroup/{name}{'' if path == '/' else path}/tasks"
    return None


def _move_self() -> bool:
    """Move the calling thread into the v1 cgroup it is in; whether the kernel took it."""
    import _thread

    from lxcri.host import procfs

    tasks = v1_tasks(procfs.cgroup("thread-self"))
    if tasks is None:
        return False
    try:
        fd = posix.open(tasks, posix.O_WRONLY | posix.O_CLOEXEC)
        try:
            tid = str(_thread.get_native_id()).encode()
            return posix.write(fd, tid) == len(tid)
        finally:
            posix.close(fd)
    except OSError:
        return False
