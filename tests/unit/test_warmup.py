"""lxcri.host.warmup: what it takes from the environment and what it may signal."""
from __future__ import annotations

import os
import posix
import subprocess
from typing import Iterator

import pytest

from lxcri.host import warmup


@pytest.fixture(autouse=True)
def _no_pending() -> Iterator[None]:
    yield
    warmup._pid = 0
    os.environ.pop(warmup.ENV, None)


def test_take_removes_the_variable_and_stop_ends_and_reaps_our_child() -> None:
    child = os.fork()
    if child == 0:  # the stand-in for the launcher's child: waits to be ended
        os.execv("/bin/sleep", ["sleep", "30"])
    os.environ[warmup.ENV] = str(child)
    warmup.take()
    assert warmup.ENV not in os.environ and warmup.pending()
    warmup.stop()
    assert not warmup.pending()
    with pytest.raises(ChildProcessError):  # reaped already
        os.waitpid(child, os.WNOHANG)


@pytest.mark.parametrize("value", ["", "0", "-5", "12x", "9999999999"])
def test_nonsense_is_ignored(value: str) -> None:
    os.environ[warmup.ENV] = value
    warmup.take()
    warmup.stop()  # nothing to do, nothing raised
    assert not warmup.pending()


def test_a_process_that_is_not_our_child_is_left_alone() -> None:
    other = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE,
                             text=True)
    grandchild = 0
    try:
        assert other.stdout is not None
        grandchild = int(other.stdout.readline())
        for pid in (grandchild, os.getppid()):
            os.environ[warmup.ENV] = str(pid)
            warmup.take()
            warmup.stop()
            os.kill(pid, 0)  # still there
    finally:
        if grandchild:
            os.kill(grandchild, 9)
        other.kill()
        other.wait()


@pytest.mark.parametrize("text, tasks", [
    ("10:hugetlb:/\n9:name=systemd:/\n0::/user.slice\n", "/sys/fs/cgroup/hugetlb/tasks"),
    ("9:name=systemd:/user.slice/s.scope\n", "/sys/fs/cgroup/systemd/user.slice/s.scope/tasks"),
    ("0::/\n3:cpu,cpuacct:/lxc/101\n", "/sys/fs/cgroup/cpu,cpuacct/lxc/101/tasks"),
    ("0::/system.slice/pve.service\n", None),  # cgroup v2 only (Proxmox VE 7+)
    ("", None),
    ("garbage\n4::/x\n5:cpu:relative\n", None),
])
def test_the_library_warm_up_moves_within_the_first_v1_hierarchy(text: str,
                                                                 tasks: "str | None") -> None:
    assert warmup.v1_tasks(text) == tasks


def test_no_nudge_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[object] = []
    import _thread

    monkeypatch.setattr(_thread, "start_new_thread", lambda *a: started.append(a))
    monkeypatch.setattr(warmup, "_nudged", 0.0)
    monkeypatch.setenv(warmup.ENABLE_ENV, "0")
    warmup.nudge()
    assert started == []
    monkeypatch.delenv(warmup.ENABLE_ENV)
    monkeypatch.setattr(posix, "geteuid", lambda: 0)
    warmup.nudge()
    warmup.nudge()  # at once again: the first one's move keeps the kernel ready
    assert len(started) == 1
