"""The report: the timing table, the peak RSS table, the targets, and the JSON document."""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .measure import RSS_REPEATS, Verdict, judge, quantile, ratio
from .rows import RSS_VERBS, TPUT_PER_THREAD, TPUT_THREADS, Row, floor_commands

if TYPE_CHECKING:
    from .session import Bench

RSS_RUNTIMES = ("lxcri", "crun", "runc")


def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)]
        return "  ".join(out).rstrip()

    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def timing_report(rows: Sequence[Row], verdicts: Sequence[Verdict]) -> str:
    by_cell = {(vd.target.row, vd.target.variant): vd for vd in verdicts if vd.target.kind != "rss"}
    out = []
    notes = []
    for row in rows:
        if row.skipped:
            out.append([row.title, "skipped (see below)"] + [""] * 8)
            notes.append(f"skipped {row.title}: {row.skipped}")
            continue
        for i, v in enumerate(row.variants):
            vd = by_cell.get((row.key, v.key))
            ci = f"{vd.ci[0]:.2f}-{vd.ci[1]:.2f}" if vd and vd.ci else ""
            result = "" if vd is None or vd.met is None else ("met" if vd.met else "NOT met")
            out.append([
                row.title if i == 0 else "", v.label,
                f"{v.median_ms():.2f}", f"{min(v.samples) / 1e6:.2f}",
                f"{quantile(v.samples, 0.9) / 1e6:.2f}",
                fmt(ratio(row, v, "crun")), fmt(ratio(row, v, "runc")),
                vd.target.describe() if vd else "", ci, result,
            ])
    headers = ["row", "variant", "median ms", "min ms", "p90 ms", "x crun", "x runc",
               "target", "ratio 95% CI", "result"]
    text = table(headers, out, [False, False, True, True, True, True, True, False, False, False])
    for row in rows:
        if row.per > 1 and not row.skipped:
            each = ", ".join(f"{v.label} {v.median_ms() / row.per:.2f} ms" for v in row.variants if v.samples)
            n = len(row.variants[0].samples)
            notes.append(f"{row.title}: one sample is the wall time of {row.per} containers, "
                         f"{n} sample{'' if n == 1 else 's'}; per container: {each}")
    return text + "".join(f"\n{n}" for n in notes)


def rss_report(maxrss: dict[tuple[str, str], int], verdicts: Sequence[Verdict]) -> str:
    by_verb = {vd.target.row: vd for vd in verdicts if vd.target.kind == "rss"}
    out = []
    for verb in RSS_VERBS:
        vals = [maxrss.get((rt, verb)) for rt in RSS_RUNTIMES]
        if not any(vals):
            continue
        lx, cr, rc = vals
        vd = by_verb.get(verb)
        out.append([verb, *(fmt(k / 1024 if k else None, ".1f") for k in vals),
                    fmt(lx / cr if lx and cr else None), fmt(lx / rc if lx and rc else None),
                    vd.target.describe() if vd else "",
                    "" if vd is None or vd.met is None else ("met" if vd.met else "NOT met")])
    return table(["command", "lxcri MiB", "crun MiB", "runc MiB", "lxcri/crun", "lxcri/runc",
                  "target", "result"], out, [False, True, True, True, True, True, False, False])


def report(bench: Bench, args: argparse.Namespace, load: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    rows = bench.rows
    verdicts = judge({r.key: r for r in rows}, bench.maxrss, bench.rss_skipped, bench.rng)
    standin = os.path.realpath(args.lxcri) in (os.path.realpath(args.crun), os.path.realpath(args.runc))
    lines = [
        (f"lxcri benchmark: {args.rounds} rounds after {args.warmup} warm-up; every variant runs once "
        f"per round, in a fresh random order (seed {args.seed}); wall-clock ms"),
        f"lxcri  {args.lxcri}" + ("   (STAND-IN: same binary as a reference runtime)" if standin else ""),
        f"crun   {args.crun}",
        f"runc   {args.runc}",
        f"python {args.python} -> {args.python_info}",
        *([f"       (the lxcri CLI's own interpreter: {args.lxcri_shebang})"]
          if args.lxcri_shebang and args.lxcri_shebang.split()[0] != args.python else []),
        podman_line(bench, args),
        tput_line(bench, args),
        f"load average {load[0]} before, {load[1]} after; {os.cpu_count()} cpus",
        "",
        timing_report(rows, verdicts),
        "",
        f"Peak RSS (ru_maxrss by GNU time, max of {min(RSS_REPEATS, args.rounds)} runs each):",
    ]
    if bench.rss_skipped:
        lines.append(f"skipped: {bench.rss_skipped}")
    else:
        lines.append(rss_report(bench.maxrss, verdicts))
        floors = [f"{label} {bench.maxrss[('floor', key)] / 1024:.1f} MiB"
                  for key, label, _ in floor_commands(bench) if ("floor", key) in bench.maxrss]
        lines.append("floors: " + ", ".join(floors))
    if bench.worker.vmhwm_kib:
        lines.append(f"in-process worker, peak (VmHWM) over all its runs: "
                     f"{bench.worker.vmhwm_kib / 1024:.1f} MiB, of which "
                     f"{bench.worker.base_kib / 1024:.1f} MiB before importing lxcri")
    lines += ["", "Targets:"]
    for vd in verdicts:
        name = vd.target.name()
        ci = f" (95% CI {vd.ci[0]:.2f}-{vd.ci[1]:.2f})" if vd.ci else ""
        if vd.value is None:
            lines.append(f"  {name}: not measured ({vd.reason})")
        elif vd.met is None:
            lines.append(f"  {name}: {vd.value:.2f}x{ci} -> no target, reported only")
        else:
            lines.append(f"  {name}: {vd.value:.2f}x{ci} -> {'met' if vd.met else 'NOT met'}")

    data = {
        "meta": {
            "rounds": args.rounds, "warmup": args.warmup, "seed": args.seed,
            "lxcri": args.lxcri, "crun": args.crun, "runc": args.runc, "python": args.python,
            "python_resolved": os.path.realpath(args.python), "python_info": args.python_info,
            "lxcri_shebang": args.lxcri_shebang,
            "lxcri_is_standin": standin, "loadavg_before": load[0], "loadavg_after": load[1],
            "podman": args.podman, "podman_version": bench.podman.version if bench.podman else None,
            "podman_rounds": podman_rounds(bench), "tput_rounds": row_rounds(bench, "tput"),
            "cpus": os.cpu_count(), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "rows": [
            {
                "row": r.key, "title": r.title, "skipped": r.skipped,
                "variants": [
                    {
                        "variant": v.key, "label": v.label, "samples_ns": v.samples,
                        "median_ms": v.median_ms(),
                        "min_ms": min(v.samples) / 1e6,
                        "p90_ms": quantile(v.samples, 0.9) / 1e6,
                        "ratio_vs_crun": ratio(r, v, "crun"),
                        "ratio_vs_runc": ratio(r, v, "runc"),
                        **({"containers_per_sample": r.per, "per_container_ms": v.median_ms() / r.per}
                           if r.per > 1 else {}),
                    } for v in r.variants if v.samples
                ],
            } for r in rows
        ],
        "targets": [
            {"row": vd.target.row, "variant": vd.target.variant, "kind": vd.target.kind,
             "target": vd.target.describe(),
             "value": vd.value, "met": vd.met, "ci95": list(vd.ci) if vd.ci else None,
             "reason": vd.reason or None} for vd in verdicts
        ],
        "peak_rss_kib": {f"{key} {verb}": kib for (key, verb), kib in sorted(bench.maxrss.items())},
        "peak_rss_skipped": bench.rss_skipped,
        "inproc_worker_vmhwm_kib": bench.worker.vmhwm_kib or None,
        "inproc_worker_base_rss_kib": bench.worker.base_kib or None,
    }
    return "\n".join(lines), data


def row_rounds(bench: Bench, key: str) -> int:
    """How many measured rounds row `key` ran in."""
    row = next((r for r in bench.rows if r.key == key), None)
    if row is None or row.skipped:
        return 0
    return len(row.rounds) if row.rounds is not None else bench.args.rounds


def podman_rounds(bench: Bench) -> int:
    return row_rounds(bench, "podman")


def podman_line(bench: Bench, args: argparse.Namespace) -> str:
    if bench.podman is None or not bench.podman.version:
        return f"podman -   (row skipped: {bench.podman_skipped or 'not set up'})"
    return (f"podman {args.podman} ({bench.podman.version}): its row in {podman_rounds(bench)} of "
            f"the {args.rounds} rounds, spread evenly, and in every warm-up round")


def tput_line(bench: Bench, args: argparse.Namespace) -> str:
    row = next((r for r in bench.rows if r.key == "tput"), None)
    if row is None or row.skipped:
        return f"tput   -   (row skipped: {row.skipped if row else 'not declared'})"
    return (f"tput   {TPUT_THREADS} threads x {TPUT_PER_THREAD} containers a sample, both sides in the "
            f"worker ({args.python}): its row in "
            f"{row_rounds(bench, 'tput')} of the {args.rounds} rounds, spread evenly, and in the last "
            f"warm-up round")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"
