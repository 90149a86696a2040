"""The rows table and the targets: what is measured (Row, Variant) and what it is judged by.

`declare_rows` builds the rows of a Bench in their fixed order (run, csd, inproc,
state, list, podman, floor), starting what the rows need on the way: the
in-process worker, one created container per runtime, the private podman.
"""
from __future__ import annotations

import functools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .common import BenchError

if TYPE_CHECKING:
    from .session import Bench


@dataclass
class Variant:
    key: str  # "lxcri", "crun", "runc" are what ratios are computed against
    label: str
    measure: Callable[[], int]  # one timed iteration, in ns
    samples: list[int] = field(default_factory=list)

    def median_ms(self) -> float:
        return statistics.median(self.samples) / 1e6


@dataclass
class Row:
    key: str
    title: str
    variants: list[Variant]
    skipped: str | None = None
    rounds: set[int] | None = None  # measured rounds (0-based) it runs in; None: all

    def runs_in(self, measured_round: int) -> bool:
        """Every warm-up round (negative index), and its measured rounds."""
        return measured_round < 0 or self.rounds is None or measured_round in self.rounds

    def find(self, key: str) -> Variant | None:
        return next((v for v in self.variants if v.key == key and v.samples), None)


@dataclass
class Target:
    row: str
    variant: str
    kind: str  # "ratio" (vs `against`), "median_ms", or "report" (ratio vs `against`, no threshold)
    threshold: float
    against: str = ""

    def describe(self) -> str:
        if self.kind == "ratio":
            return f"<= {self.threshold:.2f}x {self.against}"
        if self.kind == "report":
            return f"report (x {self.against})"
        return f"<= {self.threshold:g} ms"


TARGETS = [
    Target("run", "lxcri", "ratio", 1.0, "runc"),
    Target("csd", "lxcri", "ratio", 1.0, "runc"),
    Target("inproc", "lxcri", "ratio", 0.8, "crun"),
    Target("state", "lxcri", "median_ms", 25.0),
    Target("podman", "lxcri", "report", 0.0, "runc"),
]



def podman_row(bench: Bench) -> Row:
    title = "podman run --rm"
    n = min(bench.args.podman_rounds, bench.args.rounds)
    if bench.podman is None or n == 0:
        return Row("podman", title, [], skipped=bench.podman_skipped or "--podman-rounds 0")
    try:
        bench.podman.setup(bench.bundle / "rootfs")
    except BenchError as exc:
        raise BenchError(f"{exc}\n(--podman-rounds 0 skips the podman row)") from None
    # Spread over the measured rounds, so drift reaches this row as it does the others.
    rounds = {int((i + 0.5) * bench.args.rounds / n) for i in range(n)}
    return Row("podman", title, [
        Variant(rt.key, f"podman --runtime {rt.key}",
                functools.partial(bench.podman.timed_run, bench.procs, bench.podman.run_argv(rt.key)))
        for rt in bench.runtimes], rounds=rounds)


def declare_rows(bench: Bench) -> None:
    """Fill bench.rows (the bundle exists by now)."""
    cli = bench.cli
    bench.rows = [
        Row("run", "run /bin/true", [
            Variant(rt.key, f"{rt.key} run", functools.partial(cli.run, rt)) for rt in bench.runtimes]),
        Row("csd", "create+start+delete", [
            Variant(rt.key, f"{rt.key} c+s+d", functools.partial(cli.csd, rt)) for rt in bench.runtimes]),
    ]
    skip = bench.worker.start(bench.new_id("inproc-warmup"))
    bench.rows.append(Row("inproc", "in-process run", [
        Variant("lxcri", "lxcri Runtime.run", lambda: bench.worker.run(bench.new_id("inproc"))),
        Variant("crun", "crun run (process)", lambda: cli.run(bench.crun)),
    ], skipped=skip))
    # One created container per runtime, so state and list have something to show.
    for rt in bench.runtimes:
        cid = bench.new_id(f"{rt.key}-state")
        bench.procs.run(rt.argv("create", "--bundle", str(bench.bundle), cid))
        bench.state_ids[rt.key] = cid
    bench.rows += [
        Row("state", "state ID", [
            Variant(rt.key, f"{rt.key} state", cli.cmd(rt.argv("state", bench.state_ids[rt.key])))
            for rt in bench.runtimes]),
        Row("list", "list", [
            Variant(rt.key, f"{rt.key} list", cli.cmd(rt.argv("list"))) for rt in bench.runtimes]),
        podman_row(bench),
        Row("floor", "floor (no runtime)", [
            Variant("true", "host /bin/true", cli.cmd(["/bin/true"])),
            Variant("python", "python -c pass", cli.cmd([bench.args.python, "-c", "pass"])),
        ]),
    ]
