"""The in-process peer, worker side: `bench.py --worker` serving `Runtime.run` requests.

The only module of the benchmark that imports lxcri (its public `lxcri.Runtime`,
nothing internal), late, so the benchmark runs, and skips the in-process row with
the reason, wherever lxcri is not importable.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def proc_status_kib(field: str) -> int:
    """VmHWM (peak RSS) or VmRSS of this process from /proc/self/status, 0 if unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def worker_main(argv: Sequence[str]) -> int:
    """The worker side: fd 3 carries requests, fd 4 replies, one line each.

    lxcri is imported here, late, so the benchmark runs (and skips this row
    with the reason) wherever lxcri is not importable.
    """
    p = argparse.ArgumentParser(prog="bench.py --worker")
    p.add_argument("--root", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--warmup-id", required=True)
    args = p.parse_args(argv)
    for fd in (3, 4):
        os.set_inheritable(fd, False)  # keep the protocol pipes out of containers

    def say(line: str) -> None:
        os.write(4, (" ".join(line.split("\n")) + "\n").encode())

    base_kib = proc_status_kib("VmRSS")  # this script's own share of the worker's RSS
    try:
        runtime_cls = importlib.import_module("lxcri").Runtime
    except Exception as exc:  # noqa: BLE001 - ImportError, or a package without Runtime yet
        say(f"skip lxcri not importable by {sys.executable}: {type(exc).__name__}: {exc}")
        return 0
    try:
        rt = runtime_cls(root=args.root)
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        say(f"error lxcri.Runtime(root=...): {type(exc).__name__}: {exc}")
        return 1
    try:
        # The first call starts lxcri's helper process: keep it off the clock.
        try:
            code = rt.run(args.warmup_id, args.bundle)
        except Exception as exc:  # noqa: BLE001 - reported to the parent
            say(f"error warm-up Runtime.run: {type(exc).__name__}: {exc}")
            return 1
        if code != 0:
            say(f"error warm-up Runtime.run returned {code}")
            return 1
        say("ready")
        with os.fdopen(3, "r", closefd=False) as requests:
            for line in requests:
                verb, _, cid = line.strip().partition(" ")
                if verb == "rss":
                    say(f"ok {proc_status_kib('VmHWM')} {base_kib}")
                    continue
                if verb != "run":
                    say(f"error unknown request {line.strip()!r}")
                    return 1
                sys.stdout.flush()  # the container writes to fd 1 directly
                t0 = time.perf_counter_ns()
                try:
                    code = rt.run(cid, args.bundle)
                except Exception as exc:  # noqa: BLE001 - reported to the parent
                    say(f"error {type(exc).__name__}: {exc}")
                    return 1
                elapsed = time.perf_counter_ns() - t0
                say(f"ok {elapsed}" if code == 0 else f"error Runtime.run returned {code}")
        return 0
    finally:
        close = getattr(rt, "close", None)
        if callable(close):
            close()

