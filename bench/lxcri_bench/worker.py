"""The in-process peer, worker side: `bench.py --worker` serving `Runtime.run` requests.

The only module of the benchmark that imports lxcri (its public `lxcri.Runtime`,
nothing internal), late, so the benchmark runs, and skips the in-process row with
the reason, wherever lxcri is not importable.

It also serves the throughput row, both sides of it, so both are timed the same
way in the same process: N threads through its one Runtime, or N threads each
spawning `crun run` and waiting for that pid.
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from .procs import describe_status


def proc_status_kib(field: str) -> int:
    """VmHWM (peak RSS) or VmRSS of this process from /proc/self/status, 0 if unavailable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


class Throughput:
    """The throughput row's two sides: `threads` threads doing `per` containers each.

    A SIGTERM from the parent (cleanup while a request runs) sets `stop`: every
    thread ends after the container it is on, so nothing is left half-made.
    """

    def __init__(self, rt: Any, bundle: str, crun: str, crun_root: str) -> None:
        self.rt, self.bundle, self.crun, self.crun_root = rt, bundle, crun, crun_root
        self.stop = threading.Event()
        self._devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)

    def lxcri_one(self, cid: str) -> None:
        code = self.rt.run(cid, self.bundle)
        if code != 0:
            raise RuntimeError(f"Runtime.run({cid!r}) returned {code}")

    def crun_one(self, cid: str) -> None:
        """`crun run`, spawned and waited for by its own pid (as bench's Procs.run does)."""
        argv = [self.crun, "--root", self.crun_root, "run", "--bundle", self.bundle, cid]
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, self._devnull, 0), (os.POSIX_SPAWN_DUP2, self._devnull, 1)])
        _, status = os.waitpid(pid, 0)
        if status != 0:
            raise RuntimeError(f"`{' '.join(argv)}` failed with {describe_status(status)}")

    def measure(self, side: str, prefix: str, threads: int, per: int) -> int:
        """Wall time, in ns, from releasing every thread to the last one's end."""
        one: Callable[[str], None] = {"lxcri": self.lxcri_one, "crun": self.crun_one}[side]
        errors: list[str] = []
        gate = threading.Barrier(threads + 1)

        def work(t: int) -> None:
            gate.wait()
            for i in range(per):
                if self.stop.is_set() or errors:
                    return
                try:
                    one(f"{prefix}-{t}-{i}")
                except Exception as exc:  # noqa: BLE001 - reported to the parent
                    errors.append(f"{type(exc).__name__}: {exc}")
                    return

        pool = [threading.Thread(target=work, args=(t,), daemon=True) for t in range(threads)]
        for th in pool:
            th.start()
        sys.stdout.flush()  # the containers write to fd 1 directly
        gate.wait()
        t0 = time.perf_counter_ns()
        for th in pool:
            th.join()
        elapsed = time.perf_counter_ns() - t0
        if errors:
            raise RuntimeError(errors[0])
        if self.stop.is_set():
            raise RuntimeError("stopped by SIGTERM")
        return elapsed

    def close(self) -> None:
        os.close(self._devnull)


def worker_main(argv: Sequence[str]) -> int:
    """The worker side: fd 3 carries requests, fd 4 replies, one line each.

    Requests: `run ID` (one timed Runtime.run), `tput SIDE PREFIX THREADS PER`
    (the throughput row, SIDE lxcri or crun), `rss` (its VmHWM and base RSS).
    lxcri is imported here, late, so the benchmark runs (and skips this row
    with the reason) wherever lxcri is not importable.
    """
    p = argparse.ArgumentParser(prog="bench.py --worker")
    p.add_argument("--root", required=True)
    p.add_argument("--bundle", required=True)
    p.add_argument("--warmup-id", required=True)
    p.add_argument("--crun", required=True, help="crun, for the throughput row's crun side")
    p.add_argument("--crun-root", required=True)
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
    tput = Throughput(rt, args.bundle, args.crun, args.crun_root)
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

        def on_term(signum: int, frame: FrameType | None) -> None:
            tput.stop.set()

        signal.signal(signal.SIGTERM, on_term)
        say("ready")
        with os.fdopen(3, "r", closefd=False) as requests:
            for line in requests:
                verb, _, cid = line.strip().partition(" ")
                if verb == "rss":
                    say(f"ok {proc_status_kib('VmHWM')} {base_kib}")
                    continue
                if verb == "tput":
                    side, prefix, threads, per = cid.split()
                    try:
                        say(f"ok {tput.measure(side, prefix, int(threads), int(per))}")
                    except Exception as exc:  # noqa: BLE001 - reported to the parent
                        say(f"error throughput ({side}): {type(exc).__name__}: {exc}")
                        return 1
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
        tput.close()
        close = getattr(rt, "close", None)
        if callable(close):
            close()

