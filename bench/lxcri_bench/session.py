"""One benchmark run: the peers and their state roots under a temp dir, the rows, cleanup.

`Bench` holds what the other modules work on: rows.declare_rows fills its rows,
measure.* fills their samples and the peak RSS, report.* reads them; `cleanup`
undoes everything on every exit path.
"""
from __future__ import annotations

import argparse
import os
import random
from pathlib import Path

from .common import PREFIX, REAP_DEADLINE_S
from .inproc import InProcessWorker
from .peers import CliRunner, Runtime, make_bundle
from .podman import Podman
from .procs import Procs, describe_status
from .rows import Row, declare_rows


class Bench:
    """The state of one run; `setup` builds the bundle and the rows."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.procs = Procs(workdir)
        self.bundle = workdir / "bundle"
        self.rng = random.Random(args.seed)
        self._n = 0
        roots = workdir / "roots"
        self.lxcri = Runtime("lxcri", args.lxcri, roots / "lxcri")
        self.crun = Runtime("crun", args.crun, roots / "crun")
        self.runc = Runtime("runc", args.runc, roots / "runc")
        self.runtimes = (self.lxcri, self.crun, self.runc)
        self.inproc_root = roots / "lxcri-inproc"
        self.tput_crun_root = roots / "crun-tput"  # the throughput row's crun side
        self.worker = InProcessWorker(self.procs, args.python, self.inproc_root, self.bundle, workdir,
                                      args.crun, self.tput_crun_root)
        self.podman = Podman(args.podman, workdir / "podman", self.runtimes) if args.podman else None
        self.podman_skipped: str | None = args.podman_skip
        self.state_ids: dict[str, str] = {}
        self.rows: list[Row] = []
        self.maxrss: dict[tuple[str, str], int] = {}  # (runtime or "floor", verb) -> KiB
        self.rss_skipped: str | None = None
        self.cli = CliRunner(self.procs, self.bundle, self.new_id)

    def new_id(self, tag: str) -> str:
        self._n += 1
        return f"{PREFIX}{os.getpid()}-{tag}{self._n}"

    def setup(self) -> None:
        make_bundle(self.bundle, self.crun.path)
        declare_rows(self)

    def teardown_state(self) -> None:
        for rt in self.runtimes:
            cid = self.state_ids.pop(rt.key, None)
            if cid is not None:
                self.procs.run(rt.argv("delete", "--force", cid))

    def cleanup(self) -> list[str]:
        """Best effort, bounded in time; returns warnings. Runs on every exit path."""
        warnings = []
        try:
            killed_cmd = self.procs.finish_inflight(REAP_DEADLINE_S)
            if killed_cmd is not None:
                warnings.append(f"killed the interrupted command (pid {killed_cmd})")
        except OSError as exc:
            warnings.append(f"waiting for the interrupted command: {exc}")
        try:
            self.worker.close()
        except Exception as exc:  # noqa: BLE001 - keep cleaning up
            warnings.append(f"closing the in-process worker: {exc}")
        self.procs.reap_orphans()
        if self.podman is not None:
            warnings += self.podman.teardown(self.procs)
        # The in-process root is libcrun state too: the lxcri CLI can delete from it.
        for rt in (*self.runtimes, Runtime("lxcri", self.lxcri.path, self.inproc_root),
                   Runtime("crun", self.crun.path, self.tput_crun_root)):
            try:
                leftovers = sorted(e for e in os.listdir(rt.root) if e.startswith(PREFIX))
            except FileNotFoundError:
                continue
            for cid in leftovers:
                got = self.procs.run(rt.argv("delete", "--force", cid), check=False)
                if got.status != 0:
                    warnings.append(f"`{rt.path} --root {rt.root} delete --force {cid}` failed "
                                    f"({describe_status(got.status)})")
        killed = self.procs.reap_all(REAP_DEADLINE_S)
        if killed:
            warnings.append(f"killed leftover child processes {killed}")
        if self.podman is not None:
            try:
                warnings += self.podman.release()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                warnings.append(f"podman: {exc}")
        self.procs.close()
        return warnings
