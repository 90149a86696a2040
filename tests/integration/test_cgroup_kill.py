"""Killing what is left in a container's cgroup on cgroup v1, where libcrun freezes the
cgroup, signals every pid it lists and thaws it (there is no cgroup.kill). lxcri's build
mends libcrun so that an empty cgroup is not frozen (scripts/build-libcrun.sh,
mend_killall_empty); a cgroup with processes still goes the whole way.

strace shows which files libcrun opens: a freeze is an open of the container's
freezer.state.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest

from support import Cli, cgroups_named, needs_strace, new_id, opened_under_strace, process_state

pytestmark = pytest.mark.core

BundleFactory = Callable[..., Path]
FREEZER = "/sys/fs/cgroup/freezer"


@pytest.fixture(autouse=True)
def _needs_v1_freezer_and_strace() -> None:
    if not os.path.isdir(FREEZER):
        pytest.skip("no cgroup v1 freezer hierarchy: libcrun kills through cgroup.kill")
    needs_strace()


def _opened(cli: Cli, *args: str) -> "tuple[subprocess.CompletedProcess[str], List[str]]":
    """Run `lxcri ARGS` under strace; the paths it (and every child) opened."""
    return opened_under_strace(cli.argv(*args), timeout=120)


def _no_pid_namespace(spec: Dict[str, Any]) -> None:
    spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"] if n["type"] != "pid"]


def test_a_container_whose_processes_are_gone_is_removed_without_a_freeze(
        cli: Cli, make_bundle: BundleFactory) -> None:
    id = new_id("nofreeze")
    proc, paths = _opened(cli, "run", "--bundle", str(make_bundle("true")), id)
    assert proc.returncode == 0, proc.stderr
    mine = [p for p in paths if p.startswith(f"{FREEZER}/") and id in p]
    # strace saw libcrun put the container into its freezer cgroup ...
    assert f"{FREEZER}/{id}/cgroup.procs" in mine, mine
    # ... and remove it with no freeze
    assert not [p for p in mine if p.endswith("freezer.state")], mine
    assert cgroups_named(id) == []


def _cgroup_pids(pid: int) -> List[int]:
    with open(f"/proc/{pid}/cgroup") as f:
        path = next(line.rstrip("\n").split(":", 2)[2] for line in f
                    if line.split(":")[1] == "freezer")
    with open(f"{FREEZER}{path}/cgroup.procs") as f:
        return [int(p) for p in f.read().split()]


def test_delete_force_still_kills_every_process_of_a_cgroup(
        cli: Cli, make_bundle: BundleFactory) -> None:
    # Without a pid namespace libcrun cannot end the container by ending its init: it
    # kills what its cgroup lists, which takes the freeze.
    id = new_id("freezekill")
    bundle = make_bundle("sh", "-c", "sleep 300 & sleep 300 & wait", edit=_no_pid_namespace)
    cli("run", "--detach", "--bundle", str(bundle), id, check=True)
    init = cli.state(id)["pid"]
    deadline = time.monotonic() + 10
    while len(pids := _cgroup_pids(init)) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(pids) >= 3, pids
    proc, paths = _opened(cli, "delete", "--force", id)
    assert proc.returncode == 0, proc.stderr
    assert f"{FREEZER}/{id}/freezer.state" in paths
    deadline = time.monotonic() + 10
    while any(process_state(p) not in (None, "Z") for p in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [p for p in pids if process_state(p) not in (None, "Z")] == []
    assert cgroups_named(id) == []
