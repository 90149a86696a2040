"""Processes: spawn commands with posix_spawn, time them, wait by pid, reap orphans.

The benchmark is a child subreaper (detached containers are reparented to it);
`Procs` keeps the exit statuses of its own commands exact while collecting them.
"""
from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .common import BenchError

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper() -> None:
    """Make orphaned descendants (detached containers) our children, not pid 1's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def high_fd(fd: int) -> int:
    """Move fd to a number >= 10, close-on-exec.

    posix_spawn's dup2 actions target fds 0-4; a source fd that is already one
    of those targets would be clobbered (or keep FD_CLOEXEC when source == target).
    """
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def describe_status(status: int) -> str:
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"signal {name}"
    return f"wait status {status:#x}"


@dataclass
class Spawned:
    """One finished command."""

    status: int
    elapsed_ns: int


class Procs:
    """Spawns commands with posix_spawn, waits for them by pid, reaps orphans.

    Waiting by pid (never waitpid(-1) while a command of ours runs; subprocess,
    which also waits by pid, only for untimed setup and cleanup commands) keeps
    our own exit statuses exact; `reap_orphans` then collects the containers
    reparented to us.
    Statuses of `watched` pids (the worker) that the orphan loop happens to
    collect are kept for whoever waits for them.
    """

    def __init__(self, workdir: Path) -> None:
        self._devnull = high_fd(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
        # One stderr file for all commands, truncated before each one (outside
        # the timed window), so a failure can be reported with its message.
        self.errlog = workdir / "stderr.log"
        self._errfd = high_fd(os.open(
            self.errlog, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600))
        self.watched: set[int] = set()
        self._stash: dict[int, int] = {}
        self.inflight: int | None = None  # the command `run` waits for (set after a Ctrl-C)

    def close(self) -> None:
        for fd in (self._devnull, self._errfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _stderr_tail(self, limit: int = 2000) -> str:
        try:
            text = self.errlog.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text[-limit:]

    def run(self, argv: Sequence[str], check: bool = True,
            env: dict[str, str] | None = None) -> Spawned:
        """Run argv (absolute path first) with stdio on /dev/null; time spawn..reap."""
        os.ftruncate(self._errfd, 0)
        actions = [
            (os.POSIX_SPAWN_DUP2, self._devnull, 0),
            (os.POSIX_SPAWN_DUP2, self._devnull, 1),
            (os.POSIX_SPAWN_DUP2, self._errfd, 2),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], list(argv), os.environ if env is None else env,
                             file_actions=actions)
        self.inflight = pid
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter_ns() - t0
        self.inflight = None
        if check and status != 0:
            tail = self._stderr_tail()
            raise BenchError(f"`{' '.join(argv)}` failed with {describe_status(status)}"
                             + (f"; its stderr:\n{tail}" if tail else " (no stderr)"))
        return Spawned(status, elapsed)

    def finish_inflight(self, seconds: float) -> int | None:
        """After an interrupt, let the command `run` was waiting for finish, so cleanup
        does not race it (a `podman run --rm` still creating its container, say);
        SIGKILL it at the deadline. Returns its pid if it had to be killed."""
        pid, self.inflight = self.inflight, None
        if pid is None:
            return None
        deadline = time.monotonic() + seconds
        while True:
            try:
                got, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if got:
                return None
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return pid

    def spawn_worker(self, argv: Sequence[str], fds: dict[int, int]) -> int:
        """Start a long-lived child in its own process group (Ctrl-C is ours to handle)."""
        actions = [(os.POSIX_SPAWN_DUP2, self._devnull, 0),
                   (os.POSIX_SPAWN_DUP2, self._devnull, 1)]
        actions += [(os.POSIX_SPAWN_DUP2, src, dst) for dst, src in sorted(fds.items())]
        pid = os.posix_spawn(argv[0], list(argv), os.environ, file_actions=actions, setpgroup=0)
        self.watched.add(pid)
        return pid

    def reap_orphans(self) -> None:
        """Collect every child that has exited, without blocking."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.watched:
                self._stash[pid] = status

    def poll(self, pid: int) -> int | None:
        """Wait status of a watched child if it has exited, else None."""
        if pid in self._stash:
            self.watched.discard(pid)
            return self._stash.pop(pid)
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            self.watched.discard(pid)
            return 0
        if got == 0:
            return None
        self.watched.discard(pid)
        return status

    def wait_deadline(self, pid: int, seconds: float) -> int | None:
        deadline = time.monotonic() + seconds
        while True:
            got = self.poll(pid)
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def settle(self, before: set[int], seconds: float) -> list[int]:
        """Reap until every child not in `before` has exited; untimed, kills nothing.

        What a command leaves running when it returns (podman's conmon, and the
        `podman container cleanup` conmon starts) is reparented to us; waiting
        for it keeps its work out of the next iteration's timing. Returns the
        pids still alive at the deadline (cleanup reaps or kills them later).
        """
        deadline = time.monotonic() + seconds
        while True:
            self.reap_orphans()
            left = [pid for pid in children_of(os.getpid()) if pid not in before]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.005)

    def reap_all(self, seconds: float) -> list[int]:
        """Reap until no child is left; SIGKILL what is still alive after `seconds`.

        Every child of a subreaper is a descendant we started (a container whose
        runtime exited), so killing the stragglers by pid kills only our own.
        Returns the pids that had to be killed.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.reap_orphans()
            if not children_of(os.getpid()):
                return []
            time.sleep(0.05)
        killed = children_of(os.getpid())
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in killed:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.reap_orphans()
        return killed


def children_of(ppid: int) -> list[int]:
    """Live and zombie children of ppid, from /proc (this kernel may lack .../children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised comm: state ppid ...
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            found.append(int(entry))
    return found

