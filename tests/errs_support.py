"""Helpers for the fault tests (hard limits, fuzzing, load): ids, and what a container left behind."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import List

from support import cgroups_named, state_left

PREFIX = "err-"


def err_id(tag: str = "") -> str:
    return f"{PREFIX}{tag}{'-' if tag else ''}{uuid.uuid4().hex[:8]}"


def processes_in_cgroup_of(id: str) -> List[int]:
    """Processes whose /proc/PID/cgroup names a cgroup called `id` (a container's)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cgroup") as f:
                text = f.read()
        except OSError:
            continue
        if any(line.rstrip("\n").rsplit("/", 1)[-1] == id for line in text.splitlines()):
            found.append(int(entry))
    return found


def leftovers(root: Path, id: str) -> List[str]:
    """Everything of container `id` still on the host: state entries (its own, or any
    file in lxcri's private directory that names it), cgroups, processes. Empty when the
    runtime cleaned up."""
    left = [f"state:{e}" for e in state_left(root) if id in e]
    left += [f"cgroup:{c}" for c in sorted(set(cgroups_named(id)))]
    left += [f"pid:{p}" for p in processes_in_cgroup_of(id)]
    return left


def one_line(stderr: str) -> str:
    """The stderr of a failed command, asserted to be one line of at most 400 characters."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}: {stderr!r}"
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert len(lines[0]) <= 400, f"{len(lines[0])} chars: {lines[0]}"
    return lines[0]


def remove_cgroups(id: str) -> None:
    """Remove the (empty) cgroups named `id` a failed test left, deepest first, so one
    failure does not leak into the host."""
    for path in sorted(set(cgroups_named(id)), key=len, reverse=True):
        for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
