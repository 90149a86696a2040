"""What the kernel waits for before a cgroup move, held the same for every side of the
conditioned rows (run, create+start+delete, in-process run; cgroup v1 hosts).

A move of a process between cgroups takes a global lock whose writer first waits for
an RCU grace period (10-16 ms here), unless another move happened within about one
grace period before. On cgroup v1 libcrun moves every container's init by writing its
pid into the cgroups (runc does the same), so a `run` pays that wait when nothing
moved just before it (cold), and does not when something did (warm). In the randomized rows what ran
before a sample decides which it gets. `warm` makes a move right before the sample;
`cold` waits long enough for the kernel to be cold again. Neither changes anything:
the move is of this thread into the cgroup it is already in (as lxcri's own warm-up,
lxcri.host.warmup, does).
"""
from __future__ import annotations

import os
import threading
import time

COLD_IDLE_S = 0.06  # several grace periods without a move of ours


def v1_tasks() -> str | None:
    """The `tasks` file of this thread's cgroup on the first cgroup v1 hierarchy, or None
    (a host with cgroup v2 only: libcrun joins the cgroup as it clones, no move). The
    same choice as lxcri.host.warmup.v1_tasks, spelled here because this process does
    not import lxcri (only the in-process worker does)."""
    try:
        with open("/proc/thread-self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" or not controllers or not path.startswith("/"):
            continue
        name = controllers.removeprefix("name=")
        tasks = f"/sys/fs/cgroup/{name}{'' if path == '/' else path}/tasks"
        return tasks if os.access(tasks, os.W_OK) else None
    return None


def warm(tasks: str) -> None:
    """Move this thread into its own cgroup; returns once the kernel has let it."""
    fd = os.open(tasks, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, str(threading.get_native_id()).encode())
    finally:
        os.close(fd)


def cold() -> None:
    time.sleep(COLD_IDLE_S)
