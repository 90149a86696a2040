"""What a test file may leave on the host, and its removal: cgroups named after the
suite's containers (and test_delete.py's frozen freezer cgroup), mounts under the
work directory, the runtimes' default state roots (watched, never touched); plus
the pid-counter nudge test_exec.py needs and the hybrid-cgroup check.
"""
from __future__ import annotations

import ctypes
import os
import re
import signal
import time

from .procs import reap_any

CGROUP_ROOT = "/sys/fs/cgroup"
FREEZER_TEST_CGROUP = "/sys/fs/cgroup/freezer/frozen"   # fixed name used by test_delete.py


def cgroup_dirs() -> set[str]:
    found: set[str] = set()
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        for d in dirs:
            found.add(os.path.join(top, d))
    return found


def hybrid_blocker() -> list[str]:
    """Controllers still on the v2 side of a hybrid host make libcrun refuse to start."""
    path = os.path.join(CGROUP_ROOT, "unified", "cgroup.controllers")
    try:
        with open(path) as f:
            return f.read().split()
    except OSError:
        return []


def write_file(path: str, value: str) -> bool:
    try:
        with open(path, "w") as f:
            f.write(value)
        return True
    except OSError:
        return False


def remove_cgroup(path: str, report: list[str]) -> bool:
    """Thaw, kill the members of, and rmdir one cgroup and everything under it."""
    subdirs = sorted((os.path.join(t, d) for t, ds, _ in os.walk(path) for d in ds),
                     key=lambda p: -p.count("/"))
    for p in [path] + subdirs:
        if os.path.exists(os.path.join(p, "freezer.state")):
            write_file(os.path.join(p, "freezer.state"), "THAWED")
        if os.path.exists(os.path.join(p, "cgroup.freeze")):
            write_file(os.path.join(p, "cgroup.freeze"), "0")
    for p in subdirs + [path]:
        for _ in range(50):
            try:
                with open(os.path.join(p, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except OSError:
                pids = []
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            reap_any()
            time.sleep(0.1)
        try:
            os.rmdir(p)
        except FileNotFoundError:
            pass
        except OSError as e:
            report.append("could not remove cgroup %s: %s" % (p, e.strerror))
            return False
    return True


def suite_ids(test_pid: int | None) -> re.Pattern[str]:
    """What the suite names its containers: 'test-' + a tempfile.mkdtemp() name,
    and test_start.py's 'container-<pid of the test file>'. A runtime may put
    these inside longer cgroup names (prefixes, '.scope'), so look for them as words."""
    ids = r"test-tmp[a-z0-9_]{8}"
    if test_pid:
        ids += r"|container-%d" % test_pid
    return re.compile(r"(?:^|[^A-Za-z0-9_])(?:%s)(?:$|[^A-Za-z0-9_])" % ids)


def cleanup_cgroups(before: set[str], report: list[str], test_pid: int | None = None,
                    delete_test: bool = False) -> None:
    """Remove the cgroups a test file created and left: those named after the
    suite's containers, and test_delete.py's freezer cgroup. Other cgroups that
    appear meanwhile (other users of this host) are left alone."""
    names = suite_ids(test_pid)
    new = sorted(cgroup_dirs() - before, key=len)
    taken: list[str] = []
    for path in new:
        if any(path.startswith(t + "/") for t in taken):
            continue
        if names.search(os.path.basename(path)) or path == FREEZER_TEST_CGROUP:
            taken.append(path)
    if delete_test and os.path.isdir(FREEZER_TEST_CGROUP) and FREEZER_TEST_CGROUP not in taken:
        taken.append(FREEZER_TEST_CGROUP)   # left by an earlier, interrupted run
    # thaw first: a frozen container cannot die, and its cgroups elsewhere stay busy
    if FREEZER_TEST_CGROUP in taken:
        if remove_cgroup(FREEZER_TEST_CGROUP, report):
            report.append("removed leftover cgroup %s" % FREEZER_TEST_CGROUP)
    removed: dict[str, list[str]] = {}
    for path in taken:
        if path != FREEZER_TEST_CGROUP and remove_cgroup(path, report):
            rel = os.path.relpath(path, CGROUP_ROOT).split("/", 1)
            removed.setdefault(rel[-1], []).append(rel[0] if len(rel) > 1 else "")
    for name, hier in sorted(removed.items()):
        report.append("removed leftover cgroup %s (in %d hierarchies: %s)"
                      % (name, len(hier), ",".join(sorted(hier))))


def raise_pid_counter(report: list[str]) -> None:
    """test_exec.py's exec_write_pid_file wants a pid of at least 5 digits; on a host
    with pid_max 32768 whose pids wrapped, move the counter past 9999 (ns_last_pid,
    as CRIU does) so that test is not judged by the luck of pid numbering."""
    try:
        with open("/proc/sys/kernel/ns_last_pid") as f:
            last = int(f.read())
        with open("/proc/sys/kernel/pid_max") as f:
            pid_max = int(f.read())
        if last < 10000 and pid_max > 20000:
            with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                f.write("10000")
            report.append("pid counter was at %d; moved to 10000" % last)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------- mounts, state

def mount_points() -> list[str]:
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            out.append(line.split()[4].replace("\\040", " "))
    return out


def unmount_under(path: str, report: list[str]) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    for mp in sorted((m for m in mount_points() if m == path or m.startswith(path + "/")),
                     key=len, reverse=True):
        if libc.umount2(mp.encode(), 2) != 0:   # MNT_DETACH
            report.append("could not unmount %s: %s" % (mp, os.strerror(ctypes.get_errno())))
        else:
            report.append("unmounted leftover %s" % mp)


def state_dirs() -> dict[str, set[str]]:
    """Default state roots of the two runtimes: the suite always passes --root, so
    these must not change; a change is reported, never cleaned."""
    out = {}
    for d in ("/run/crun", "/run/lxcri"):
        try:
            out[d] = set(os.listdir(d))
        except OSError:
            out[d] = set()
    return out
