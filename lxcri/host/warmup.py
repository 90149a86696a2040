"""The launcher's cgroup warm-up child, ended before the backend runs.

For create, run and exec the native launcher (launcher/lxcri.c) forks a child that
moves itself into its own cgroup on a cgroup v1 hierarchy, so that the kernel's grace
period for cgroup moves is over by the time libcrun moves the container's process. It
passes the child's pid in LXCRI_WARMUP_PID. `take` removes the variable from the
environment first thing (nothing this process starts inherits it); `stop` ends and
reaps the child right before the backend is called: a foreground run waits for every
child of the process, and the kernel stays ready for a grace period after the child's
last move, long enough for the backend's.
"""
from __future__ import annotations

import os

ENV = "LXCRI_WARMUP_PID"

_pid = 0


def take() -> None:
    """Take the child's pid out of the environment (called by lxcri._launch)."""
    global _pid
    value = os.environ.pop(ENV, "")
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
        if len(fields) < 2 or int(fields[1]) != os.getpid():
            return
        os.kill(pid, 9)
        os.waitpid(pid, 0)
    except (OSError, ValueError):
        pass
