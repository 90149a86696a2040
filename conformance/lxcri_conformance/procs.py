"""Process care: be the child subreaper, reap orphans, wait for a test file's process
without losing its status, and kill whatever a finished file left running.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time

from .common import log

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
        return True
    except Exception as e:  # pragma: no cover - only on exotic hosts
        log("warning: cannot become a child subreaper (%s); run me under `tini -s`" % e)
        return False


def reap_any() -> dict[int, int]:
    """Reap every exited child (orphans adopted as subreaper); return {pid: status}."""
    done: dict[int, int] = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        done[pid] = status
    return done


def adopted_children() -> list[int]:
    """Pids whose parent is this process (orphans we adopted, still alive or zombie)."""
    me = str(os.getpid())
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == me:
            out.append(int(d))
    return out


def wait_test_process(proc: subprocess.Popen[bytes], deadline: float) -> int | None:
    """Wait for the test file's process while reaping adopted orphans.

    subprocess' own wait cannot be used: waitpid(-1) here reaps its status too.
    Returns (exit_status or None on timeout)."""
    while True:
        for pid, status in reap_any().items():
            if pid == proc.pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                return proc.returncode
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.05)


def kill_adopted(report: list[str]) -> None:
    """SIGKILL and reap every process the finished test file left behind."""
    for _ in range(50):
        reap_any()
        pids = [p for p in adopted_children() if not _is_zombie(p)]
        if not pids:
            reap_any()
            return
        for p in pids:
            report.append("killed leftover process %d (%s)" % (p, _comm(p)))
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    report.append("could not get rid of leftover processes: %s" % adopted_children())


def _comm(pid: int) -> str:
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
        if not cmd:
            with open("/proc/%d/comm" % pid) as f:
                cmd = "[%s]" % f.read().strip()
        return cmd
    except OSError:
        return "?"


def _is_zombie(pid: int) -> bool:
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        return s[s.rfind(")") + 2] == "Z"
    except OSError:
        return True
