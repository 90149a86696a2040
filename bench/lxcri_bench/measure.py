"""The measurement: interleaved rounds, medians and ratios, bootstrap intervals,
the verdicts on the targets, and the peak RSS of each command (by GNU time).
"""
from __future__ import annotations

import gc
import random
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .rows import TARGETS, Row, Target, Variant, floor_commands

if TYPE_CHECKING:
    from .session import Bench

BOOTSTRAP_RESAMPLES = 2000
RSS_REPEATS = 5


def quantile(samples: Sequence[int], q: float) -> float:
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio_ci(a: Sequence[int], b: Sequence[int], rng: random.Random) -> tuple[float, float] | None:
    """95% bootstrap interval of median(a)/median(b), resampling whole rounds; None
    from fewer than 2 rounds.

    Sample i of every variant comes from the same round, so resampling rounds
    (not samples independently) keeps what drift the two shared.
    """
    n = min(len(a), len(b))
    if n < 2:
        return None
    ratios = []
    for _ in range(BOOTSTRAP_RESAMPLES):
        idx = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(a[i] for i in idx) / statistics.median(b[i] for i in idx))
    ratios.sort()
    return ratios[int(0.025 * len(ratios))], ratios[int(0.975 * len(ratios)) - 1]


def ratio(row: Row, v: Variant, against: str) -> float | None:
    base = row.find(against)
    if base is None or base is v:
        return None
    return statistics.median(v.samples) / statistics.median(base.samples)


@dataclass
class Verdict:
    target: Target
    value: float | None
    met: bool | None
    ci: tuple[float, float] | None = None
    reason: str = ""


def judge(rows: dict[str, Row], maxrss: dict[tuple[str, str], int], rss_skipped: str | None,
          rng: random.Random) -> list[Verdict]:
    verdicts = []
    for t in TARGETS:
        if t.kind == "rss":
            verdicts.append(judge_rss(t, maxrss, rss_skipped))
            continue
        row = rows.get(t.row)
        v = row.find(t.variant) if row else None
        if row is None or v is None:
            verdicts.append(Verdict(t, None, None, reason=(row.skipped if row else "") or "not measured"))
            continue
        base = row.find(t.against)
        if base is None:
            verdicts.append(Verdict(t, None, None, reason=f"no {t.against} baseline"))
            continue
        value = statistics.median(v.samples) / statistics.median(base.samples)
        verdicts.append(Verdict(t, value, t.met(value), ratio_ci(v.samples, base.samples, rng)))
    return verdicts


def judge_rss(t: Target, maxrss: dict[tuple[str, str], int], skipped: str | None) -> Verdict:
    """Peak RSS of CLI verb t.row: lxcri's over t.against's (each the max of its runs)."""
    mine, base = maxrss.get((t.variant, t.row)), maxrss.get((t.against, t.row))
    if not mine or not base:
        return Verdict(t, None, None, reason=skipped or "not measured")
    value = mine / base
    return Verdict(t, value, t.met(value))


def measure_rounds(bench: Bench) -> None:
    """The timed rounds: warm-up first, then every variant of every row once per round,
    in a fresh random order each round; samples only from the measured rounds."""
    rows = [row for row in bench.rows if not row.skipped]
    total = bench.args.warmup + bench.args.rounds
    tty = sys.stderr.isatty()
    # A collection in this process would land inside some iteration's timing.
    gc.collect()
    gc.disable()
    try:
        for rnd in range(total):
            if tty:
                print(f"\rround {rnd + 1}/{total}", end="", file=sys.stderr, flush=True)
            tasks = [v for row in rows if row.runs_in(rnd - bench.args.warmup) for v in row.variants]
            bench.rng.shuffle(tasks)
            for v in tasks:
                ns = v.measure()
                bench.procs.reap_orphans()
                if rnd >= bench.args.warmup:
                    v.samples.append(ns)
    finally:
        gc.enable()
        if tty:
            print("\r" + " " * 20 + "\r", end="", file=sys.stderr, flush=True)


def measure_rss(bench: Bench) -> None:
    """Peak RSS of each runtime command, a few runs each, untimed.

    Not from our own wait4: a child that this Python process forks or
    vforks starts with our page tables, and the kernel folds that address
    space's peak into the child's ru_maxrss at exec, so every command would
    read as at least our size (~13-19 MiB here, /bin/true included). GNU
    time is small, so the children it forks are measured from ~1 MiB up.
    """
    if bench.args.time is None:
        bench.rss_skipped = "GNU time not found (Debian package `time`)"
        return
    out = bench.workdir / "rss.txt"

    def peak(key: str, verb: str, argv: list[str]) -> None:
        bench.procs.run([bench.args.time, "-f", "%M", "-o", str(out), *argv])
        kib = int(out.read_text().split()[-1])
        bench.maxrss[(key, verb)] = max(kib, bench.maxrss.get((key, verb), 0))

    order = list(bench.runtimes)
    for _ in range(min(RSS_REPEATS, bench.args.rounds)):
        bench.rng.shuffle(order)
        for rt in order:
            peak(rt.key, "run", rt.argv("run", "--bundle", str(bench.bundle), bench.new_id(rt.key)))
            for verb, argv in bench.cli.csd_steps(rt):
                peak(rt.key, verb, argv)
            peak(rt.key, "state", rt.argv("state", bench.state_ids[rt.key]))
            peak(rt.key, "list", rt.argv("list"))
            cid = bench.cli.created(rt)
            peak(rt.key, "kill", rt.argv("kill", cid, "KILL"))
            bench.procs.reap_orphans()
            bench.procs.run(rt.argv("delete", "--force", cid))
            bench.procs.reap_orphans()
        for key, _, argv in floor_commands(bench):
            peak("floor", key, argv)


def find_gnu_time() -> str | None:
    """GNU time, which reports its child's ru_maxrss (busybox's time scales it by 4)."""
    path = shutil.which("time") or "/usr/bin/time"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "GNU" in out.stdout + out.stderr else None
