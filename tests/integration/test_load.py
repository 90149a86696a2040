"""Load: many containers at once through one Runtime and through the CLI, and long create/start/kill/delete cycles.

All must succeed, leave nothing behind, and keep the memory (RSS) and descriptor counts
of the calling process and of the Runtime's helper flat: measured after a warm-up and
at the end, with a bounded allowance for growth. How long it takes is not asserted
(that is `make bench`); the counts are sized to keep this file near 3 minutes on 2 CPUs.
"""
from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from errs_support import err_id, leftovers
from support import Cli

THREADS, PER_THREAD = 16, 50
CLI_CONCURRENT = 32
LIBRARY_CYCLES = 1000
CLI_CYCLES = int(os.environ.get("LXCRI_LOAD_CLI_CYCLES", "300"))
WARMUP = 20
# Allowed growth between the warm-up and the end: what allocator noise and caches may
# take, far below what one leaked object per cycle would (1000 cycles).
RSS_SLACK_KB = 16 * 1024
FD_SLACK = 4


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _usage(pids: List[int]) -> Dict[int, Tuple[int, int]]:
    return {pid: (_rss_kb(pid), _fds(pid)) for pid in pids}


def _helper_pid(rt: Any) -> Optional[int]:
    helper = getattr(rt, "_helper", None)
    return getattr(helper, "pid", None) if helper is not None else None


@pytest.mark.core
def test_16_threads_run_50_containers_each_through_one_runtime(
        runtime: Any, make_bundle: Any) -> None:
    bundle = str(make_bundle("true"))
    results: Dict[str, Any] = {}
    ids = [[err_id(f"t{t}") for _ in range(PER_THREAD)] for t in range(THREADS)]

    def work(mine: List[str]) -> None:
        for id in mine:
            try:
                results[id] = runtime.run(id, bundle, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
            except Exception as exc:  # collected: a thread must not die silently
                results[id] = exc

    threads = [threading.Thread(target=work, args=(mine,)) for mine in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    failed = {id: r for id, r in results.items() if r != 0}
    assert len(results) == THREADS * PER_THREAD
    assert failed == {}, f"{len(failed)} runs failed, e.g. {list(failed.items())[:3]}"
    root = Path(runtime.root)
    left = [x for mine in ids for id in mine[:3] + mine[-3:] for x in leftovers(root, id)]
    assert left == []
    assert runtime.list() == []


@pytest.mark.core
def test_32_concurrent_cli_create_start_delete(cli: Cli, make_bundle: Any) -> None:
    bundle = str(make_bundle("true"))
    ids = [err_id("cc") for _ in range(CLI_CONCURRENT)]
    errors: Dict[str, str] = {}

    def work(id: str) -> None:
        for args in (("create", "--bundle", bundle, id), ("start", id),
                     ("delete", "--force", id)):
            proc = cli(*args, timeout=120)
            if proc.returncode != 0:
                errors[id] = f"{args[0]}: {proc.stderr.strip()}"
                return

    threads = [threading.Thread(target=work, args=(id,)) for id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == {}
    assert [x for id in ids for x in leftovers(cli.root, id)] == []


def _cycle_library(rt: Any, bundle: str, id: str) -> None:
    rt.create(id, bundle, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rt.start(id)
    rt.kill(id, "KILL")
    rt.delete(id, force=True)


@pytest.mark.core
def test_1000_library_cycles_leave_nothing_and_stay_flat(runtime: Any, make_bundle: Any) -> None:
    bundle = str(make_bundle("sleep", "100"))
    root = Path(runtime.root)
    for _ in range(WARMUP):
        _cycle_library(runtime, bundle, err_id("warm"))
    pids = [os.getpid()] + [p for p in [_helper_pid(runtime)] if p]
    before = _usage(pids)
    sample = []
    for n in range(LIBRARY_CYCLES):
        id = err_id(f"cy{n}")
        _cycle_library(runtime, bundle, id)
        if n % 100 == 0:
            sample.append(id)
    after = _usage(pids)
    assert runtime.list() == []
    assert [x for id in sample for x in leftovers(root, id)] == []
    for pid in pids:
        (rss0, fd0), (rss1, fd1) = before[pid], after[pid]
        assert rss1 - rss0 <= RSS_SLACK_KB, f"pid {pid}: RSS {rss0} -> {rss1} kB"
        assert fd1 - fd0 <= FD_SLACK, f"pid {pid}: fds {fd0} -> {fd1}"
    print(f"\nlxcri load: {LIBRARY_CYCLES} library cycles: "
          + ", ".join(f"pid {p}: RSS {before[p][0]}->{after[p][0]} kB, fds {before[p][1]}->"
                      f"{after[p][1]}" for p in pids))


@pytest.mark.core
def test_cli_cycles_leave_nothing(cli: Cli, make_bundle: Any) -> None:
    """Fewer than the library's 1000: four commands a cycle, each a new process (which is
    also why there is no RSS to watch here)."""
    bundle = str(make_bundle("sleep", "100"))
    for n in range(CLI_CYCLES):
        id = err_id(f"cli{n}")
        for args in (("create", "--bundle", bundle, id), ("start", id), ("kill", id, "KILL"),
                     ("delete", "--force", id)):
            proc = cli(*args)
            assert proc.returncode == 0, f"cycle {n}: {args[0]}: {proc.stderr}"
        if n % 25 == 0:
            assert leftovers(cli.root, id) == []
    assert cli("list", "-q", check=True).stdout == ""
    assert [e for e in os.listdir(cli.root) if not e.startswith(".")] == []
