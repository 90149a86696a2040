"""The rows table and the targets: what is measured (Row, Variant) and what it is judged by.

`declare_rows` builds the rows of a Bench in their fixed order (run, run-warm,
run-cold, csd, csd-warm, csd-cold, inproc, inproc-warm, inproc-cold, tput, state,
kill, delete, list, podman, floor), starting what the rows need on the way: the
in-process worker, one created container per runtime, the private podman.
"""
from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import cgroupwait
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
    warmups: int | None = None  # how many of the last warm-up rounds it runs in; None: all
    per: int = 1  # containers one sample covers (the throughput row's 200)

    def runs_in(self, measured_round: int) -> bool:
        """Its warm-up rounds (negative index, -1 the last), and its measured rounds."""
        if measured_round < 0:
            return self.warmups is None or -measured_round <= self.warmups
        return self.rounds is None or measured_round in self.rounds

    def find(self, key: str) -> Variant | None:
        return next((v for v in self.variants if v.key == key and v.samples), None)


@dataclass
class Target:
    """A verdict to give: `variant` of `row` over `against` of the same row, by median.

    kind "ratio": met when the ratio is <= threshold (< with `strict`); "report": the
    ratio with its interval, no threshold; "rss": the peak RSS of CLI verb `row`,
    lxcri over `against` (the RSS table, not the timing rows).
    """

    row: str
    variant: str
    kind: str
    threshold: float
    against: str
    strict: bool = False
    title: str = ""  # what the Targets list calls it, if not "VARIANT ROW"

    def describe(self) -> str:
        if self.kind == "report":
            return f"report (x {self.against})"
        return f"{'<' if self.strict else '<='} {self.threshold:.2f}x {self.against}"

    def name(self) -> str:
        if self.kind == "rss":
            return f"{self.variant} peak RSS of {self.row} {self.describe()}"
        return f"{self.title or f'{self.variant} {self.row}'} {self.describe()}"

    def met(self, value: float) -> bool | None:
        if self.kind == "report":
            return None
        return value < self.threshold if self.strict else value <= self.threshold


_COLD = f"after {cgroupwait.COLD_IDLE_S * 1000:.0f} ms without cgroup moves"
# (key suffix, title suffix) of the two conditions, in the order the rows come.
CONDITIONS = (("warm", "right after a cgroup move"), ("cold", _COLD))


# The CLI verbs whose peak RSS is measured (measure_rss), each judged against runc's.
RSS_VERBS = ("run", "create", "start", "kill", "delete", "state", "list")

# Issue 11's targets.
TARGETS = [
    Target("run", "lxcri", "ratio", 1.0, "runc"),
    Target("csd", "lxcri", "ratio", 1.2, "runc"),
    Target("state", "lxcri", "ratio", 2.0, "runc"),
    Target("kill", "lxcri", "ratio", 2.0, "runc"),
    Target("delete", "lxcri", "ratio", 2.0, "runc"),
    Target("list", "lxcri", "ratio", 2.0, "runc"),
    Target("inproc", "lxcri", "ratio", 0.8, "crun"),
    # The rows whose containers join cgroups, with the kernel's wait before a cgroup move
    # held alike for every side (conditioned_rows): reports, the targets stay above.
    *(Target(f"{row}-{cond}", "lxcri", "report", 0.0, against, title=f"{what}, {words}:")
      for row, what, against in (("run", "lxcri run", "runc"), ("csd", "lxcri c+s+d", "runc"),
                                 ("inproc", "lxcri Runtime.run", "crun"))
      for cond, words in CONDITIONS),
    # Wall time of the same 200 containers: lower is ahead.
    Target("tput", "lxcri", "ratio", 1.0, "crun", strict=True),
    *(Target(verb, "lxcri", "rss", 1.0, "runc") for verb in RSS_VERBS),
    Target("podman", "lxcri", "report", 0.0, "runc"),
    # The interpreter's own start against runc's whole call (what the floor means).
    Target("floor", "python-IS", "report", 0.0, "runc",
           title="floor: `python -I -S -c pass` against `runc --version`,"),
]


def spread(n: int, rounds: int) -> set[int]:
    """n of the measured rounds, spread evenly, so drift reaches a row run in only a few."""
    return {int((i + 0.5) * rounds / n) for i in range(n)}


def podman_row(bench: Bench) -> Row:
    title = "podman run --rm"
    n = min(bench.args.podman_rounds, bench.args.rounds)
    if bench.podman is None or n == 0:
        return Row("podman", title, [], skipped=bench.podman_skipped or "--podman-rounds 0")
    try:
        bench.podman.setup(bench.bundle / "rootfs")
    except BenchError as exc:
        raise BenchError(f"{exc}\n(--podman-rounds 0 skips the podman row)") from None
    rounds = spread(n, bench.args.rounds)
    return Row("podman", title, [
        Variant(rt.key, f"podman --runtime {rt.key}",
                functools.partial(bench.podman.timed_run, bench.procs, bench.podman.run_argv(rt.key)))
        for rt in bench.runtimes], rounds=rounds)


def floor_commands(bench: Bench) -> list[tuple[str, str, list[str]]]:
    """What no runtime can beat (key, label, argv): the floor row, and their peak RSS."""
    python = bench.args.python
    return [("true", "host /bin/true", ["/bin/true"]),
            ("python", "python -c pass", [python, "-c", "pass"]),
            ("python-IS", "python -I -S -c pass", [python, "-I", "-S", "-c", "pass"]),
            ("runc", "runc --version", [bench.runc.path, "--version"])]


TPUT_THREADS = 8
TPUT_PER_THREAD = 25


def tput_row(bench: Bench, inproc_skip: str | None) -> Row:
    """Both sides in the worker: threads through one Runtime, or threads spawning `crun run`."""
    title = f"throughput {TPUT_THREADS}x{TPUT_PER_THREAD}"
    n = min(bench.args.tput_rounds, bench.args.rounds)
    if n == 0 or inproc_skip:
        return Row("tput", title, [], skipped=inproc_skip or "--tput-rounds 0")
    label = f"{TPUT_THREADS} threads"

    def side(key: str) -> Callable[[], int]:
        return lambda: bench.worker.tput(key, bench.new_id("tput"), TPUT_THREADS, TPUT_PER_THREAD)

    # Expensive (200 containers a sample): a few measured rounds, and the last warm-up round.
    return Row("tput", title, [
        Variant("lxcri", f"lxcri Runtime.run, {label}", side("lxcri")),
        Variant("crun", f"crun run (process), {label}", side("crun")),
    ], rounds=spread(n, bench.args.rounds), warmups=1, per=TPUT_THREADS * TPUT_PER_THREAD)


def conditioned_rows(key: str, title: str, variants: Sequence[tuple[str, str, Callable[[], int]]],
                     skip: str | None) -> list[Row]:
    """Row `key` twice more, each sample of every variant right after a cgroup move (warm)
    or after a quiet spell (cold): lxcri_bench.cgroupwait. `variants`: (key, label,
    sample) as the unconditioned row has them."""
    tasks = cgroupwait.v1_tasks()
    skip = skip or (None if tasks else "no writable cgroup v1 hierarchy: a container's "
                    "cgroup join does not wait for the kernel here")

    def warm() -> None:
        assert tasks is not None
        cgroupwait.warm(tasks)

    def conditioned(condition: Callable[[], None], sample: Callable[[], int]) -> Callable[[], int]:
        def measure() -> int:
            condition()
            return sample()
        return measure

    conditions = {"warm": warm, "cold": cgroupwait.cold}
    return [Row(f"{key}-{cond}", f"{title}, {words}", [
        Variant(vkey, label, conditioned(conditions[cond], sample))
        for vkey, label, sample in variants], skipped=skip)
        for cond, words in CONDITIONS]


def declare_rows(bench: Bench) -> None:
    """Fill bench.rows (the bundle exists by now)."""
    cli = bench.cli
    rts = bench.runtimes
    run = [(rt.key, f"{rt.key} run", functools.partial(cli.run, rt)) for rt in rts]
    csd = [(rt.key, f"{rt.key} c+s+d", functools.partial(cli.csd, rt)) for rt in rts]
    bench.rows = [
        Row("run", "run /bin/true", [Variant(*v) for v in run]),
        *conditioned_rows("run", "run /bin/true", run, None),
        Row("csd", "create+start+delete", [Variant(*v) for v in csd]),
        *conditioned_rows("csd", "create+start+delete", csd, None),
    ]
    skip = bench.worker.start(bench.new_id("inproc-warmup"))
    inproc: list[tuple[str, str, Callable[[], int]]] = [
        ("lxcri", "lxcri Runtime.run", lambda: bench.worker.run(bench.new_id("inproc"))),
        ("crun", "crun run (process)", lambda: cli.run(bench.crun))]
    bench.rows += [
        Row("inproc", "in-process run", [Variant(*v) for v in inproc], skipped=skip),
        *conditioned_rows("inproc", "in-process run", inproc, skip),
        tput_row(bench, skip),
    ]
    # One created container per runtime, so state and list have something to show.
    for rt in rts:
        cid = bench.new_id(f"{rt.key}-state")
        bench.procs.run(rt.argv("create", "--bundle", str(bench.bundle), cid))
        bench.state_ids[rt.key] = cid
    bench.rows += [
        Row("state", "state ID", [
            Variant(rt.key, f"{rt.key} state", cli.cmd(rt.argv("state", bench.state_ids[rt.key])))
            for rt in rts]),
        # Each on a container created (and, for kill, deleted) outside the timed window.
        Row("kill", "kill ID KILL", [
            Variant(rt.key, f"{rt.key} kill", functools.partial(cli.kill, rt)) for rt in rts]),
        Row("delete", "delete ID (created)", [
            Variant(rt.key, f"{rt.key} delete", functools.partial(cli.delete, rt)) for rt in rts]),
        Row("list", "list", [
            Variant(rt.key, f"{rt.key} list", cli.cmd(rt.argv("list"))) for rt in rts]),
        podman_row(bench),
        # runc --version under key "runc": the floor row's "x runc" column is then each
        # floor against runc's whole call (exec, Go runtime start, exit).
        Row("floor", "floor (no container)", [
            Variant(key, label, cli.cmd(argv)) for key, label, argv in floor_commands(bench)]),
    ]
