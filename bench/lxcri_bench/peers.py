"""The OCI CLI peers (lxcri, crun, runc): where they are, their bundle, one timed iteration.

Every runtime is spawned the same way (`Procs.run`, posix_spawn + waitpid) with
its own `--root` under the benchmark's temp dir; `CliRunner` holds the timed
iterations the rows of these peers are made of.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .common import BenchError
from .procs import Procs


def resolve(name: str, given: str | None) -> str:
    path = given or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise BenchError(f"{name}: not found or not executable ({given or 'searched PATH'})")
    return os.path.abspath(path)


def interpreter_info(python: str) -> str:
    """What the figures' interpreter is: where `python` resolves to, and its version."""
    real = os.path.realpath(python)
    try:
        out = subprocess.run([python, "-I", "-S", "-c", "import sys; print(sys.version.split()[0])"],
                             capture_output=True, text=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"{python}: cannot run it to read its version: {exc}") from None
    return f"{real} (Python {out.stdout.strip()})"


def shebang(path: str) -> str | None:
    """The `#!` line of a script (the lxcri console script names its interpreter), else None."""
    try:
        with open(path, "rb") as f:
            head = f.read(256)
    except OSError:
        return None
    if not head.startswith(b"#!"):
        return None
    return head[2:].split(b"\n", 1)[0].decode(errors="replace").strip()


def make_bundle(bundle: Path, crun: str) -> None:
    """A busybox rootfs whose config runs /bin/true with no terminal."""
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise BenchError("/bin/busybox not found: install busybox-static")
    bindir = bundle / "rootfs" / "bin"
    bindir.mkdir(parents=True)
    for sub in ("dev", "proc", "sys", "tmp"):
        (bundle / "rootfs" / sub).mkdir()
    shutil.copy2(busybox, bindir / "busybox")
    listed = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True)
    for applet in listed.stdout.split():
        if applet != "busybox" and "/" not in applet:
            (bindir / applet).symlink_to("busybox")
    config = bundle / "config.json"
    subprocess.run([crun, "spec", "--bundle", str(bundle), "--file", str(config)],
                   check=True, capture_output=True)
    spec = json.loads(config.read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["/bin/true"]
    config.write_text(json.dumps(spec, indent=2))


@dataclass
class Runtime:
    """One runtime binary, with its own state root under our temp dir."""

    key: str
    path: str
    root: Path

    def argv(self, *args: str) -> list[str]:
        return [self.path, "--root", str(self.root), *args]



class CliRunner:
    """One timed iteration of a runtime command, in ns; fresh container ids from `new_id`."""

    def __init__(self, procs: Procs, bundle: Path, new_id: Callable[[str], str]) -> None:
        self.procs, self.bundle, self.new_id = procs, bundle, new_id

    def run(self, rt: Runtime) -> int:
        return self.procs.run(rt.argv("run", "--bundle", str(self.bundle), self.new_id(rt.key))).elapsed_ns

    def csd_steps(self, rt: Runtime) -> list[tuple[str, list[str]]]:
        cid = self.new_id(rt.key)
        # delete --force: /bin/true may not have finished exiting after start.
        return [("create", rt.argv("create", "--bundle", str(self.bundle), cid)),
                ("start", rt.argv("start", cid)),
                ("delete", rt.argv("delete", "--force", cid))]

    def csd(self, rt: Runtime) -> int:
        steps = self.csd_steps(rt)
        t0 = time.perf_counter_ns()
        for _, argv in steps:
            self.procs.run(argv)
        return time.perf_counter_ns() - t0

    def created(self, rt: Runtime) -> str:
        """A fresh container in the created state, untimed."""
        cid = self.new_id(rt.key)
        self.procs.run(rt.argv("create", "--bundle", str(self.bundle), cid))
        return cid

    def kill(self, rt: Runtime) -> int:
        """`kill ID KILL` of a created container; create and delete --force untimed."""
        cid = self.created(rt)
        elapsed = self.procs.run(rt.argv("kill", cid, "KILL")).elapsed_ns
        # The killed init is our child (subreaper): collect it before delete looks at it.
        self.procs.reap_orphans()
        self.procs.run(rt.argv("delete", "--force", cid))
        return elapsed

    def delete(self, rt: Runtime) -> int:
        """`delete ID` (no --force) of a created container; create untimed."""
        cid = self.created(rt)
        return self.procs.run(rt.argv("delete", cid)).elapsed_ns

    def cmd(self, argv: list[str]) -> Callable[[], int]:
        return lambda: self.procs.run(argv).elapsed_ns
