#!/usr/bin/env python3
"""Benchmark of lxcri against crun and runc (what `make bench` runs).

Usage:
    python bench/bench.py --lxcri .venv/bin/lxcri [--python .venv/bin/python]
                          [--rounds 30] [--warmup 3] [--json OUT] [--seed N]
                          [--podman PATH] [--podman-rounds 10] [--tput-rounds 3]

What it measures, in one run, every variant of every row interleaved in a
fresh random order each round (so drift on a noisy machine hits all variants
alike), with medians and ratios computed from medians:

  run            `X run --bundle B ID` of /bin/true, X = lxcri, crun, runc
  csd            `create`, `start`, `delete --force`, timed as one unit
  inproc         `lxcri.Runtime.run()` in a Python process vs `crun run` spawned
  tput           throughput: 8 threads x 25 containers through one `lxcri.Runtime`
                 vs 8 threads each spawning `crun run` 25 times, both in the worker
                 process; a sample is the wall time of the 200; in --tput-rounds of
                 the rounds (spread evenly) and the last warm-up round
  state, list    wall time of `X state ID` / `X list` with one created container
  kill           `X kill ID KILL` of a container created (and deleted) untimed
  delete         `X delete ID` of a container created untimed
  podman         `podman --runtime X run --rm --network none IMAGE /bin/true` against
                 a private podman; in --podman-rounds of the rounds (spread evenly)
                 and every warm-up round; no target, ratios reported
  floor          host `/bin/true`, `python -c pass`, `python -I -S -c pass` and
                 `runc --version`: what no runtime can beat, and runc's own start
  peak RSS       ru_maxrss of each runtime command (via GNU time), max of 5 runs
  vm             `lxcri run --runtime vm` of /bin/true on TCG (and KVM where usable),
                 with the time to the guest's first instruction, the boot and QEMU's
                 RSS; --vm-rounds runs after all other rows (lxcri_bench/vm.py)

Targets (issue 11; reported, never asserted), lxcri against: `run` <= 1.0x runc;
create+start+delete <= 1.2x runc; `state`, `kill`, `delete`, `list` <= 2.0x runc
each; in-process `Runtime.run` <= 0.8x `crun run`; throughput ahead of crun
(wall-time ratio < 1.0); the peak RSS of every CLI verb <= runc's. The podman
row, and the interpreter's own start (`python -I -S -c pass`) against
`runc --version`, are reported with their intervals, no threshold.

The exit code is 0 whenever the report was produced, targets met or not; 1 when
a command failed (the message says which, with its stderr); 130 on Ctrl-C.

Process hygiene. A detached container (`create`) is reparented to the nearest
child subreaper when its runtime exits, and pid 1 on the machines this runs on
does not reap orphans. So this process makes itself a child subreaper, reaps
every orphan after each iteration, uses runtime roots under its own temp dir,
and on any exit (Ctrl-C included) deletes every container left there with
`delete --force`, reaps, and removes the temp dir.

podman runs with everything private under that temp dir (containers.conf,
storage.conf, registries.conf, vfs store, run root, tmp dir, XDG dirs, file
locks, a runtime root per runtime, a cgroup parent); cleanup runs `podman rm
--force --all` there, unmounts what is left under it, removes its cgroups and
the host directories podman 4.3 creates regardless (/var/lib/containers/cache
...) if they did not exist before. No podman or conmon: the row is skipped.

The in-process variant runs in a worker interpreter (this same file with
`--worker`), driven over a pipe: a subreaper reaping with waitpid(-1) would
otherwise steal the exit status of lxcri's own helper process, and importing
lxcri then needs only the worker's interpreter (--python), not this one.

This file is the entry point (the command line, the order of a run); the parts
are in lxcri_bench/ beside it, one module per concern (its __init__ lists them).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# lxcri_bench/ sits beside this file; found also under `python -P` or from elsewhere.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lxcri_bench.common import PREFIX, BenchError  # noqa: E402
from lxcri_bench.measure import find_gnu_time, measure_rounds, measure_rss  # noqa: E402
from lxcri_bench.peers import interpreter_info, resolve, shebang  # noqa: E402
from lxcri_bench.podman import find_podman  # noqa: E402
from lxcri_bench.procs import become_subreaper  # noqa: E402
from lxcri_bench.report import loadavg, report  # noqa: E402
from lxcri_bench.session import Bench  # noqa: E402
from lxcri_bench.vm import format_vm, measure_vm  # noqa: E402
from lxcri_bench.worker import worker_main  # noqa: E402


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--lxcri", required=True, help="the lxcri executable (crun's path stands in)")
    p.add_argument("--python", help="interpreter that can `import lxcri`, for the in-process row "
                   "(default: `python` beside --lxcri if present, else this interpreter)")
    p.add_argument("--crun", help="crun executable (default: from PATH)")
    p.add_argument("--runc", help="runc executable (default: from PATH)")
    p.add_argument("--podman", help="podman executable for the `podman run --rm` row "
                   "(default: from PATH; the row is skipped when none is found)")
    p.add_argument("--rounds", type=int, default=30, help="measured rounds (default 30)")
    p.add_argument("--podman-rounds", type=int, default=10,
                   help="measured rounds of the podman row, at most --rounds (default 10; 0 skips it)")
    p.add_argument("--tput-rounds", type=int, default=3,
                   help="measured rounds of the throughput row (200 containers a side each), "
                   "at most --rounds (default 3; 0 skips it)")
    p.add_argument("--vm-rounds", type=int, default=3,
                   help="runs of the vm backend row (report only; default 3, 0 skips it)")
    p.add_argument("--warmup", type=int, default=3, help="uncounted rounds first (default 3)")
    p.add_argument("--seed", type=int, default=None, help="shuffle seed (default: random)")
    p.add_argument("--json", type=Path, help="also write raw samples and summaries here")
    args = p.parse_args(argv)
    if args.rounds < 2 or args.warmup < 0:
        p.error("--rounds must be >= 2 and --warmup >= 0")
    # One round gives a median but no interval; fine for a quick look.
    for opt in ("podman_rounds", "tput_rounds"):
        if getattr(args, opt) < 0:
            p.error(f"--{opt.replace('_', '-')} must be >= 0 (0 skips the row)")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    return args


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1:])
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (it starts real containers)", file=sys.stderr)
        return 1
    # SIGTERM takes the same cleanup path as Ctrl-C.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    bench: Bench | None = None
    workdir: Path | None = None
    rc = 0
    try:
        args.lxcri = resolve("lxcri", args.lxcri)
        args.crun = resolve("crun", args.crun)
        args.runc = resolve("runc", args.runc)
        if not args.python:
            beside = Path(args.lxcri).parent / "python"
            args.python = str(beside) if os.access(beside, os.X_OK) else sys.executable
        args.python = os.path.abspath(args.python)
        args.python_info = interpreter_info(args.python)
        args.lxcri_shebang = shebang(args.lxcri)
        args.time = find_gnu_time()
        args.podman, args.podman_skip = find_podman(args)
        become_subreaper()
        workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
        bench = Bench(args, workdir)
        load_before = loadavg()
        bench.setup()
        measure_rounds(bench)
        load_after = loadavg()
        measure_rss(bench)
        if bench.worker.chan is not None:
            bench.worker.fetch_vmhwm()
        bench.teardown_state()
        text, data = report(bench, args, (load_before, load_after))
        if args.vm_rounds > 0:
            data["vm"] = measure_vm(args.lxcri, args.python, bench.bundle, workdir,
                                    args.vm_rounds)
            text += "\n\n" + format_vm(data["vm"])
        print(text)
        if args.json:
            args.json.write_text(json.dumps(data, indent=1) + "\n")
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        rc = 1
    except KeyboardInterrupt:
        print("\nbench: interrupted, cleaning up", file=sys.stderr)
        rc = 130
    finally:
        # A second Ctrl-C must not cut the cleanup short; it is bounded in time.
        old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            if bench is not None:
                for w in bench.cleanup():
                    print(f"bench: cleanup: {w}", file=sys.stderr)
            if workdir is not None:
                shutil.rmtree(workdir, onerror=lambda f, p, e: print(
                    f"bench: cleanup: cannot remove {p}: {e[1]}", file=sys.stderr))
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
