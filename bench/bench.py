#!/usr/bin/env python3
"""Benchmark of lxcri against crun and runc (what `make bench` runs).

Usage:
    python bench/bench.py --lxcri .venv/bin/lxcri [--python .venv/bin/python]
                          [--rounds 30] [--warmup 3] [--json OUT] [--seed N]
                          [--podman PATH] [--podman-rounds 10]

What it measures, in one run, every variant of every row interleaved in a
fresh random order each round (so drift on a noisy machine hits all variants
alike), with medians and ratios computed from medians:

  run            `X run --bundle B ID` of /bin/true, X = lxcri, crun, runc
  csd            `create`, `start`, `delete --force`, timed as one unit
  inproc         `lxcri.Runtime.run()` in a Python process vs `crun run` spawned
  state, list    wall time of `X state ID` / `X list` with one created container
  podman         `podman --runtime X run --rm --network none IMAGE /bin/true` against
                 a private podman; in --podman-rounds of the rounds (spread evenly)
                 and every warm-up round; no target, ratios reported
  floor          host `/bin/true` and `python -c pass`: what no runtime can beat
  peak RSS       ru_maxrss of each runtime command (via GNU time), max of 5 runs

Targets (reported, never asserted): `lxcri run` and create+start+delete at or
below runc; in-process `Runtime.run` <= 0.8x `crun run`; `lxcri state` <= 25 ms.
The podman row has none: its lxcri/runc ratio is reported with its interval.

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
"""
from __future__ import annotations

import argparse
import ctypes
import fcntl
import functools
import gc
import importlib
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "lxcri-bench-"
PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>
WORKER_START_TIMEOUT_S = 120.0  # the first Runtime.run may start a helper process
WORKER_RUN_TIMEOUT_S = 60.0
REAP_DEADLINE_S = 10.0
BOOTSTRAP_RESAMPLES = 2000


class BenchError(Exception):
    """Something the benchmark needs failed to run; the message says what."""


# --------------------------------------------------------------------------- #
# Processes: spawn, time, reap.
# --------------------------------------------------------------------------- #

def become_subreaper() -> None:
    """Make orphaned descendants (detached containers) our children, not pid 1's."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def high_fd(fd: int) -> int:
    """Move fd to a number >= 10, close-on-exec.

    posix_spawn's dup2 actions target fds 0-4; a source fd that is already one
    of those targets would be clobbered (or keep FD_CLOEXEC when source == target).
    """
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def describe_status(status: int) -> str:
    if os.WIFEXITED(status):
        return f"exit code {os.WEXITSTATUS(status)}"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return f"signal {name}"
    return f"wait status {status:#x}"


@dataclass
class Spawned:
    """One finished command."""

    status: int
    elapsed_ns: int


class Procs:
    """Spawns commands with posix_spawn, waits for them by pid, reaps orphans.

    Waiting by pid (never waitpid(-1) while a command of ours runs; subprocess,
    which also waits by pid, only for untimed setup and cleanup commands) keeps
    our own exit statuses exact; `reap_orphans` then collects the containers
    reparented to us.
    Statuses of `watched` pids (the worker) that the orphan loop happens to
    collect are kept for whoever waits for them.
    """

    def __init__(self, workdir: Path) -> None:
        self._devnull = high_fd(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
        # One stderr file for all commands, truncated before each one (outside
        # the timed window), so a failure can be reported with its message.
        self.errlog = workdir / "stderr.log"
        self._errfd = high_fd(os.open(
            self.errlog, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600))
        self.watched: set[int] = set()
        self._stash: dict[int, int] = {}
        self.inflight: int | None = None  # the command `run` waits for (set after a Ctrl-C)

    def close(self) -> None:
        for fd in (self._devnull, self._errfd):
            try:
                os.close(fd)
            except OSError:
                pass

    def _stderr_tail(self, limit: int = 2000) -> str:
        try:
            text = self.errlog.read_text(errors="replace").strip()
        except OSError:
            return ""
        return text[-limit:]

    def run(self, argv: Sequence[str], check: bool = True,
            env: dict[str, str] | None = None) -> Spawned:
        """Run argv (absolute path first) with stdio on /dev/null; time spawn..reap."""
        os.ftruncate(self._errfd, 0)
        actions = [
            (os.POSIX_SPAWN_DUP2, self._devnull, 0),
            (os.POSIX_SPAWN_DUP2, self._devnull, 1),
            (os.POSIX_SPAWN_DUP2, self._errfd, 2),
        ]
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], list(argv), os.environ if env is None else env,
                             file_actions=actions)
        self.inflight = pid
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter_ns() - t0
        self.inflight = None
        if check and status != 0:
            tail = self._stderr_tail()
            raise BenchError(f"`{' '.join(argv)}` failed with {describe_status(status)}"
                             + (f"; its stderr:\n{tail}" if tail else " (no stderr)"))
        return Spawned(status, elapsed)

    def finish_inflight(self, seconds: float) -> int | None:
        """After an interrupt, let the command `run` was waiting for finish, so cleanup
        does not race it (a `podman run --rm` still creating its container, say);
        SIGKILL it at the deadline. Returns its pid if it had to be killed."""
        pid, self.inflight = self.inflight, None
        if pid is None:
            return None
        deadline = time.monotonic() + seconds
        while True:
            try:
                got, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if got:
                return None
            if time.monotonic() >= deadline:
                break
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        return pid

    def spawn_worker(self, argv: Sequence[str], fds: dict[int, int]) -> int:
        """Start a long-lived child in its own process group (Ctrl-C is ours to handle)."""
        actions = [(os.POSIX_SPAWN_DUP2, self._devnull, 0),
                   (os.POSIX_SPAWN_DUP2, self._devnull, 1)]
        actions += [(os.POSIX_SPAWN_DUP2, src, dst) for dst, src in sorted(fds.items())]
        pid = os.posix_spawn(argv[0], list(argv), os.environ, file_actions=actions, setpgroup=0)
        self.watched.add(pid)
        return pid

    def reap_orphans(self) -> None:
        """Collect every child that has exited, without blocking."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self.watched:
                self._stash[pid] = status

    def poll(self, pid: int) -> int | None:
        """Wait status of a watched child if it has exited, else None."""
        if pid in self._stash:
            self.watched.discard(pid)
            return self._stash.pop(pid)
        try:
            got, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            self.watched.discard(pid)
            return 0
        if got == 0:
            return None
        self.watched.discard(pid)
        return status

    def wait_deadline(self, pid: int, seconds: float) -> int | None:
        deadline = time.monotonic() + seconds
        while True:
            got = self.poll(pid)
            if got is not None or time.monotonic() >= deadline:
                return got
            time.sleep(0.02)

    def settle(self, before: set[int], seconds: float) -> list[int]:
        """Reap until every child not in `before` has exited; untimed, kills nothing.

        What a command leaves running when it returns (podman's conmon, and the
        `podman container cleanup` conmon starts) is reparented to us; waiting
        for it keeps its work out of the next iteration's timing. Returns the
        pids still alive at the deadline (cleanup reaps or kills them later).
        """
        deadline = time.monotonic() + seconds
        while True:
            self.reap_orphans()
            left = [pid for pid in children_of(os.getpid()) if pid not in before]
            if not left or time.monotonic() >= deadline:
                return left
            time.sleep(0.005)

    def reap_all(self, seconds: float) -> list[int]:
        """Reap until no child is left; SIGKILL what is still alive after `seconds`.

        Every child of a subreaper is a descendant we started (a container whose
        runtime exited), so killing the stragglers by pid kills only our own.
        Returns the pids that had to be killed.
        """
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.reap_orphans()
            if not children_of(os.getpid()):
                return []
            time.sleep(0.05)
        killed = children_of(os.getpid())
        for pid in killed:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in killed:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        self.reap_orphans()
        return killed


def children_of(ppid: int) -> list[int]:
    """Live and zombie children of ppid, from /proc (this kernel may lack .../children)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Fields after the parenthesised comm: state ppid ...
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == ppid:
            found.append(int(entry))
    return found


# --------------------------------------------------------------------------- #
# The in-process worker.
# --------------------------------------------------------------------------- #

class LineChannel:
    """Line-based request/response over two pipe fds, with a read timeout."""

    def __init__(self, rfd: int, wfd: int) -> None:
        self.rfd, self.wfd = rfd, wfd
        self._buf = b""

    def send(self, line: str) -> None:
        os.write(self.wfd, (line + "\n").encode())

    def recv(self, timeout: float) -> str | None:
        """One line, or None on EOF; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.rfd, 65536)
            if not chunk:
                return None
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace")


class InProcessWorker:
    """Drives `worker_main` in another interpreter: one `Runtime.run` per request."""

    def __init__(self, procs: Procs, python: str, root: Path, bundle: Path, workdir: Path) -> None:
        self.procs, self.python, self.root, self.bundle = procs, python, root, bundle
        self.errlog = workdir / "worker-stderr.log"
        self.pid: int | None = None
        self.chan: LineChannel | None = None
        self.vmhwm_kib = 0  # the worker's own peak RSS, reported by itself
        self.base_kib = 0  # its RSS before importing lxcri

    def start(self, warmup_id: str) -> str | None:
        """Start the worker and wait for its warm-up run; returns a skip reason or None."""
        cmd_r, cmd_w = (high_fd(fd) for fd in os.pipe())
        res_r, res_w = (high_fd(fd) for fd in os.pipe())
        err = high_fd(os.open(self.errlog, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600))
        argv = [self.python, os.path.abspath(__file__), "--worker", "--root", str(self.root),
                "--bundle", str(self.bundle), "--warmup-id", warmup_id]
        try:
            self.pid = self.procs.spawn_worker(argv, {2: err, 3: cmd_r, 4: res_w})
        finally:
            for fd in (cmd_r, res_w, err):
                os.close(fd)
        self.chan = LineChannel(res_r, cmd_w)
        reply = self._recv(WORKER_START_TIMEOUT_S, "start")
        verb, _, rest = reply.partition(" ")
        if verb == "ready":
            return None
        if verb == "skip":
            self.close()
            return rest
        raise BenchError(f"in-process worker failed to start: {rest}{self._stderr()}")

    def run(self, cid: str) -> int:
        assert self.chan is not None
        self.chan.send(f"run {cid}")
        verb, _, rest = self._recv(WORKER_RUN_TIMEOUT_S, f"Runtime.run({cid!r})").partition(" ")
        if verb != "ok":
            raise BenchError(f"in-process Runtime.run({cid!r}) failed: {rest}{self._stderr()}")
        return int(rest)

    def fetch_vmhwm(self) -> None:
        """Ask the worker for its peak RSS (VmHWM: per address space, so exact)."""
        assert self.chan is not None
        self.chan.send("rss")
        verb, *nums = self._recv(WORKER_RUN_TIMEOUT_S, "rss").split()
        if verb == "ok" and len(nums) == 2 and all(n.isdigit() for n in nums):
            self.vmhwm_kib, self.base_kib = int(nums[0]), int(nums[1])

    def _recv(self, timeout: float, what: str) -> str:
        assert self.chan is not None
        try:
            line = self.chan.recv(timeout)
        except TimeoutError:
            raise BenchError(f"in-process worker: no answer to {what} within {timeout:.0f} s"
                             f"{self._stderr()}") from None
        if line is None:
            raise BenchError(f"in-process worker exited during {what}{self._stderr()}")
        return line

    def _stderr(self) -> str:
        try:
            text = self.errlog.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; worker stderr:\n{text[-2000:]}" if text else ""

    def close(self) -> None:
        """EOF on its command pipe makes the worker close the Runtime and exit."""
        if self.chan is not None:
            for fd in (self.chan.wfd, self.chan.rfd):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.chan = None
        if self.pid is not None:
            if self.procs.wait_deadline(self.pid, REAP_DEADLINE_S) is None:
                os.kill(self.pid, signal.SIGKILL)
                self.procs.wait_deadline(self.pid, REAP_DEADLINE_S)
            self.pid = None


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


# --------------------------------------------------------------------------- #
# Bundle and runtimes.
# --------------------------------------------------------------------------- #

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


# --------------------------------------------------------------------------- #
# A private podman (the "podman run --rm" row).
# --------------------------------------------------------------------------- #

PODMAN_IMAGE = "localhost/lxcri-bench-busybox:latest"
PODMAN_CMD_TIMEOUT_S = 120.0  # setup and cleanup commands; timed runs have none
CONMON_PATHS = ("/usr/bin/conmon", "/usr/sbin/conmon", "/usr/libexec/podman/conmon",
                "/usr/local/libexec/podman/conmon", "/usr/lib/podman/bin/conmon")
# podman 4.3 keeps its blob-info cache in /var/lib/containers/cache whatever its
# storage root, and short-name alias locks in /var/cache/containers. Directories
# among these that did not exist before are removed afterwards, with these files
# (nothing else: a directory still holding anything else is left alone).
PODMAN_HOST_DIRS = ("/var/lib/containers", "/var/lib/containers/cache",
                    "/var/cache/containers", "/run/libpod")
PODMAN_HOST_FILES = ("blob-info-cache-v1.boltdb", "short-name-aliases.conf.lock")
# Never removed (another podman on the host may own them), only reported if they appear.
PODMAN_HOST_WATCH = ("/dev/shm/libpod_lock", "/run/containers")
MNT_DETACH = 2  # <sys/mount.h>

PODMAN_CONF = """\
# Written by lxcri's bench/bench.py: a private podman, nothing shared with the host's.
[containers]
default_ulimits = {ulimits}
log_driver = "k8s-file"
netns = "none"

[engine]
runtime = "crun"
# No systemd here; file locks in tmp_dir, not the host-wide /dev/shm/libpod_lock.
# (No static_dir: the cleanup process conmon starts gets --root but not the
# storage conf, and would look for the database elsewhere.)
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = {tmp_dir}
volume_path = {volume_path}
# podman passes --log-format=json --log FILE only to the runtimes named here.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "lxcri"]

[engine.runtimes]
{runtimes}

[network]
network_config_dir = {cni}
"""

PODMAN_STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = {graph}
runroot = {run}
"""


def toml_str(s: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these paths)."""
    return json.dumps(s)


def podman_ulimits() -> list[str]:
    """podman's defaults, lowered to the hard limits: without CAP_SYS_RESOURCE a
    limit above them cannot be set, and every container would fail to start."""
    def cap(res: int, want: int) -> int:
        hard = resource.getrlimit(res)[1]
        return want if hard == resource.RLIM_INFINITY else min(want, hard)

    nofile = cap(resource.RLIMIT_NOFILE, 1048576)
    nproc = cap(resource.RLIMIT_NPROC, 32768)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below prefix, from our mountinfo."""
    base = str(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return found


def unmount_under(prefix: Path) -> list[str]:
    """Unmount (lazily if need be) everything below prefix; returns warnings."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(3):
        points = mounts_under(prefix)
        if not points:
            return []
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if libc.umount2(os.fsencode(point), 0) != 0:
                libc.umount2(os.fsencode(point), MNT_DETACH)
    return [f"still mounted: {p}" for p in mounts_under(prefix)]


def cgroup_hierarchies() -> list[Path]:
    top = Path("/sys/fs/cgroup")
    if (top / "cgroup.controllers").exists():  # unified (v2) only
        return [top]
    try:
        return [p for p in sorted(top.iterdir()) if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def remove_cgroup_tree(name: str, seconds: float) -> list[str]:
    """rmdir <hierarchy>/<name> bottom-up in every hierarchy; returns warnings."""
    deadline = time.monotonic() + seconds
    while True:
        left = []
        for hier in cgroup_hierarchies():
            top = hier / name
            if not top.is_dir():
                continue
            for dirpath, _, _ in sorted(os.walk(top), key=lambda e: -e[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() >= deadline:
            return [f"cgroup left: {d}" for d in left]
        time.sleep(0.1)


def find_conmon() -> str | None:
    return shutil.which("conmon") or next((p for p in CONMON_PATHS if os.access(p, os.X_OK)), None)


class Podman:
    """podman against a private configuration, store, run root, tmp dir and XDG dirs.

    Each runtime is registered under its own name in [engine.runtimes] as a /bin/sh
    wrapper that adds `--root <private dir>` (podman passes none), so no runtime
    state lands in /run/crun, /run/runc or lxcri's default root. The same wrapper
    cost (one exec of dash) is in every variant. Containers go under a private
    cgroup parent, which cleanup removes.
    """

    def __init__(self, path: str, base: Path, runtimes: Sequence[Runtime]) -> None:
        self.path = path
        self.base = base
        self.cgroup_parent = f"{PREFIX}podman-{os.getpid()}"
        self.runtimes = [Runtime(rt.key, rt.path, base / "runtime-roots" / rt.key) for rt in runtimes]
        self.version = ""
        self.started = False  # a podman command has run: there may be things to clean
        self.host_absent: list[str] = []
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base),
            "LANG": "C.UTF-8",
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
            "XDG_CONFIG_HOME": str(base / "xdg-config"),
            "XDG_DATA_HOME": str(base / "xdg-data"),
            "XDG_CACHE_HOME": str(base / "xdg-cache"),
            "XDG_RUNTIME_DIR": str(base / "xdg-runtime"),
            "TMPDIR": str(base / "tmp"),
        }

    def setup(self, rootfs: Path) -> None:
        """Write the configuration and wrappers, import the image from rootfs."""
        self.host_absent = [p for p in (*PODMAN_HOST_DIRS, *PODMAN_HOST_WATCH)
                            if not os.path.lexists(p)]
        base = self.base
        for sub in ("bin", "tmp", "xdg-config", "xdg-data", "xdg-cache", "xdg-runtime",
                    "cni", "libpod-tmp", "volumes"):
            (base / sub).mkdir(mode=0o700, parents=True)
        wrappers = []
        for rt in self.runtimes:
            rt.root.mkdir(parents=True)
            wrapper = base / "bin" / rt.key
            wrapper.write_text("#!/bin/sh\n"
                               f"exec {sh_quote(rt.path)} --root {sh_quote(str(rt.root))} \"$@\"\n")
            wrapper.chmod(0o755)
            wrappers.append(f"{rt.key} = [{toml_str(str(wrapper))}]")
        (base / "containers.conf").write_text(PODMAN_CONF.format(
            ulimits=json.dumps(podman_ulimits()),
            tmp_dir=toml_str(str(base / "libpod-tmp")), volume_path=toml_str(str(base / "volumes")),
            runtimes="\n".join(wrappers), cni=toml_str(str(base / "cni"))))
        (base / "storage.conf").write_text(PODMAN_STORAGE_CONF.format(
            graph=toml_str(str(base / "graph")), run=toml_str(str(base / "run"))))
        (base / "registries.conf").write_text("unqualified-search-registries = []\n")
        tarball = base / "rootfs.tar"

        def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        with tarfile.open(tarball, "w") as tar:
            for entry in sorted(rootfs.iterdir()):
                tar.add(entry, arcname=entry.name, filter=as_root)
        self.version = self._call("--version").stdout.strip()
        self.started = True
        self._call("import", "--quiet", str(tarball), PODMAN_IMAGE)

    def run_argv(self, key: str) -> list[str]:
        return [self.path, "--runtime", key, "run", "--rm", "--network", "none",
                f"--cgroup-parent=/{self.cgroup_parent}", PODMAN_IMAGE, "/bin/true"]

    def _call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.path, *args]
        try:
            proc = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=PODMAN_CMD_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"`{' '.join(argv)}` did not finish within "
                             f"{PODMAN_CMD_TIMEOUT_S:.0f} s") from None
        if check and proc.returncode != 0:
            raise BenchError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}; "
                             f"its stderr:\n{proc.stderr.strip()[-2000:]}")
        return proc

    def teardown(self, procs: Procs) -> list[str]:
        """Remove every container of the private store and what runtimes still hold."""
        if not self.started:
            return []
        warnings = []
        for what, fn in (("podman rm", self._remove_containers),
                         ("runtime state", lambda: self._delete_runtime_state(procs))):
            try:
                warnings += fn()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                warnings.append(f"podman {what}: {exc}")
        return warnings

    def _remove_containers(self) -> list[str]:
        rm = self._call("rm", "--force", "--all", "--time", "0", check=False)
        warnings = [] if rm.returncode == 0 else [
            f"`podman rm --force --all` exited {rm.returncode}: {rm.stderr.strip()[-500:]}"]
        left = self._call("ps", "--all", "--quiet", check=False).stdout.split()
        if left:
            warnings.append(f"podman containers left in {self.base}: {left}")
        return warnings

    def _delete_runtime_state(self, procs: Procs) -> list[str]:
        warnings = []
        for rt in self.runtimes:
            try:
                ids = sorted(e for e in os.listdir(rt.root)
                             if not e.startswith(".") and (rt.root / e).is_dir())
            except FileNotFoundError:
                continue
            for cid in ids:
                got = procs.run(rt.argv("delete", "--force", cid), check=False)
                warnings.append(f"{rt.key} state of {cid} was left in {rt.root} (`delete --force` "
                                f"{'removed it' if got.status == 0 else describe_status(got.status)})")
        return warnings

    def release(self) -> list[str]:
        """After every child is gone: unmount, remove our cgroups and created host paths."""
        if not self.started:
            return []
        warnings = unmount_under(self.base)
        warnings += remove_cgroup_tree(self.cgroup_parent, REAP_DEADLINE_S)
        created = [d for d in PODMAN_HOST_DIRS if d in self.host_absent]
        for d in sorted(created, key=len, reverse=True):
            for name in PODMAN_HOST_FILES:
                try:
                    os.unlink(os.path.join(d, name))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as exc:
                warnings.append(f"{d} was created during the run and is not empty, left: {exc}")
        for p in PODMAN_HOST_WATCH:
            if p in self.host_absent and os.path.lexists(p):
                warnings.append(f"{p} appeared during the run (left alone: it may be another podman's)")
        return warnings


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------- #
# Statistics and report.
# --------------------------------------------------------------------------- #

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


def quantile(samples: Sequence[int], q: float) -> float:
    ordered = sorted(samples)
    pos = q * (len(ordered) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio_ci(a: Sequence[int], b: Sequence[int], rng: random.Random) -> tuple[float, float]:
    """95% bootstrap interval of median(a)/median(b), resampling whole rounds.

    Sample i of every variant comes from the same round, so resampling rounds
    (not samples independently) keeps what drift the two shared.
    """
    n = min(len(a), len(b))
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


@dataclass
class Verdict:
    target: Target
    value: float | None
    met: bool | None
    ci: tuple[float, float] | None = None
    reason: str = ""


def judge(rows: dict[str, Row], rng: random.Random) -> list[Verdict]:
    verdicts = []
    for t in TARGETS:
        row = rows.get(t.row)
        v = row.find(t.variant) if row else None
        if row is None or v is None:
            verdicts.append(Verdict(t, None, None, reason=(row.skipped if row else "") or "not measured"))
            continue
        if t.kind == "median_ms":
            value = v.median_ms()
            verdicts.append(Verdict(t, value, value <= t.threshold))
            continue
        base = row.find(t.against)
        if base is None:
            verdicts.append(Verdict(t, None, None, reason=f"no {t.against} baseline"))
            continue
        value = statistics.median(v.samples) / statistics.median(base.samples)
        met = None if t.kind == "report" else value <= t.threshold
        verdicts.append(Verdict(t, value, met, ratio_ci(v.samples, base.samples, rng)))
    return verdicts


def timing_report(rows: Sequence[Row], verdicts: Sequence[Verdict]) -> str:
    by_cell = {(vd.target.row, vd.target.variant): vd for vd in verdicts}
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
    return text + "".join(f"\n{n}" for n in notes)


RSS_VERBS = ("run", "create", "start", "delete", "state", "list")
RSS_REPEATS = 5
RSS_RUNTIMES = ("lxcri", "crun", "runc")


def rss_report(maxrss: dict[tuple[str, str], int]) -> str:
    out = []
    for verb in RSS_VERBS:
        vals = [maxrss.get((rt, verb)) for rt in RSS_RUNTIMES]
        if not any(vals):
            continue
        lx, cr, rc = vals
        out.append([verb, *(fmt(k / 1024 if k else None, ".1f") for k in vals),
                    fmt(lx / cr if lx and cr else None), fmt(lx / rc if lx and rc else None)])
    return table(["command", "lxcri MiB", "crun MiB", "runc MiB", "lxcri/crun", "lxcri/runc"],
                 out, [False, True, True, True, True, True])


def find_gnu_time() -> str | None:
    """GNU time, which reports its child's ru_maxrss (busybox's time scales it by 4)."""
    path = shutil.which("time") or "/usr/bin/time"
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return path if "GNU" in out.stdout + out.stderr else None


# --------------------------------------------------------------------------- #
# The benchmark.
# --------------------------------------------------------------------------- #

class Bench:
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
        self.worker = InProcessWorker(self.procs, args.python, self.inproc_root, self.bundle, workdir)
        self.podman = Podman(args.podman, workdir / "podman", self.runtimes) if args.podman else None
        self.podman_skipped: str | None = args.podman_skip
        self.state_ids: dict[str, str] = {}
        self.rows: list[Row] = []
        self.maxrss: dict[tuple[str, str], int] = {}  # (runtime or "floor", verb) -> KiB
        self.rss_skipped: str | None = None

    def new_id(self, tag: str) -> str:
        self._n += 1
        return f"{PREFIX}{os.getpid()}-{tag}{self._n}"

    # One timed iteration per method, returning ns.

    def t_run(self, rt: Runtime) -> int:
        return self.procs.run(rt.argv("run", "--bundle", str(self.bundle), self.new_id(rt.key))).elapsed_ns

    def csd_steps(self, rt: Runtime) -> list[tuple[str, list[str]]]:
        cid = self.new_id(rt.key)
        # delete --force: /bin/true may not have finished exiting after start.
        return [("create", rt.argv("create", "--bundle", str(self.bundle), cid)),
                ("start", rt.argv("start", cid)),
                ("delete", rt.argv("delete", "--force", cid))]

    def t_csd(self, rt: Runtime) -> int:
        steps = self.csd_steps(rt)
        t0 = time.perf_counter_ns()
        for _, argv in steps:
            self.procs.run(argv)
        return time.perf_counter_ns() - t0

    def t_cmd(self, argv: list[str]) -> Callable[[], int]:
        return lambda: self.procs.run(argv).elapsed_ns

    def t_podman(self, argv: list[str]) -> int:
        """`podman run --rm`, timed alone; then, untimed, wait for the conmon and
        `podman container cleanup` it leaves behind (reparented to us) to exit."""
        assert self.podman is not None
        before = set(children_of(os.getpid()))
        ns = self.procs.run(argv, env=self.podman.env).elapsed_ns
        self.procs.settle(before, REAP_DEADLINE_S)
        return ns

    def podman_row(self) -> Row:
        title = "podman run --rm"
        n = min(self.args.podman_rounds, self.args.rounds)
        if self.podman is None or n == 0:
            return Row("podman", title, [], skipped=self.podman_skipped or "--podman-rounds 0")
        try:
            self.podman.setup(self.bundle / "rootfs")
        except BenchError as exc:
            raise BenchError(f"{exc}\n(--podman-rounds 0 skips the podman row)") from None
        # Spread over the measured rounds, so drift reaches this row as it does the others.
        rounds = {int((i + 0.5) * self.args.rounds / n) for i in range(n)}
        return Row("podman", title, [
            Variant(rt.key, f"podman --runtime {rt.key}",
                    functools.partial(self.t_podman, self.podman.run_argv(rt.key)))
            for rt in self.runtimes], rounds=rounds)

    def setup(self) -> None:
        make_bundle(self.bundle, self.crun.path)
        self.rows = [
            Row("run", "run /bin/true", [
                Variant(rt.key, f"{rt.key} run", functools.partial(self.t_run, rt)) for rt in self.runtimes]),
            Row("csd", "create+start+delete", [
                Variant(rt.key, f"{rt.key} c+s+d", functools.partial(self.t_csd, rt)) for rt in self.runtimes]),
        ]
        skip = self.worker.start(self.new_id("inproc-warmup"))
        self.rows.append(Row("inproc", "in-process run", [
            Variant("lxcri", "lxcri Runtime.run", lambda: self.worker.run(self.new_id("inproc"))),
            Variant("crun", "crun run (process)", lambda: self.t_run(self.crun)),
        ], skipped=skip))
        # One created container per runtime, so state and list have something to show.
        for rt in self.runtimes:
            cid = self.new_id(f"{rt.key}-state")
            self.procs.run(rt.argv("create", "--bundle", str(self.bundle), cid))
            self.state_ids[rt.key] = cid
        self.rows += [
            Row("state", "state ID", [
                Variant(rt.key, f"{rt.key} state", self.t_cmd(rt.argv("state", self.state_ids[rt.key])))
                for rt in self.runtimes]),
            Row("list", "list", [
                Variant(rt.key, f"{rt.key} list", self.t_cmd(rt.argv("list"))) for rt in self.runtimes]),
            self.podman_row(),
            Row("floor", "floor (no runtime)", [
                Variant("true", "host /bin/true", self.t_cmd(["/bin/true"])),
                Variant("python", "python -c pass", self.t_cmd([self.args.python, "-c", "pass"])),
            ]),
        ]

    def measure(self) -> None:
        rows = [row for row in self.rows if not row.skipped]
        total = self.args.warmup + self.args.rounds
        tty = sys.stderr.isatty()
        # A collection in this process would land inside some iteration's timing.
        gc.collect()
        gc.disable()
        try:
            for rnd in range(total):
                if tty:
                    print(f"\rround {rnd + 1}/{total}", end="", file=sys.stderr, flush=True)
                tasks = [v for row in rows if row.runs_in(rnd - self.args.warmup) for v in row.variants]
                self.rng.shuffle(tasks)
                for v in tasks:
                    ns = v.measure()
                    self.procs.reap_orphans()
                    if rnd >= self.args.warmup:
                        v.samples.append(ns)
        finally:
            gc.enable()
            if tty:
                print("\r" + " " * 20 + "\r", end="", file=sys.stderr, flush=True)

    def measure_rss(self) -> None:
        """Peak RSS of each runtime command, a few runs each, untimed.

        Not from our own wait4: a child that this Python process forks or
        vforks starts with our page tables, and the kernel folds that address
        space's peak into the child's ru_maxrss at exec, so every command would
        read as at least our size (~13-19 MiB here, /bin/true included). GNU
        time is small, so the children it forks are measured from ~1 MiB up.
        """
        if self.args.time is None:
            self.rss_skipped = "GNU time not found (Debian package `time`)"
            return
        out = self.workdir / "rss.txt"

        def peak(key: str, verb: str, argv: list[str]) -> None:
            self.procs.run([self.args.time, "-f", "%M", "-o", str(out), *argv])
            kib = int(out.read_text().split()[-1])
            self.maxrss[(key, verb)] = max(kib, self.maxrss.get((key, verb), 0))

        order = list(self.runtimes)
        for _ in range(min(RSS_REPEATS, self.args.rounds)):
            self.rng.shuffle(order)
            for rt in order:
                peak(rt.key, "run", rt.argv("run", "--bundle", str(self.bundle), self.new_id(rt.key)))
                for verb, argv in self.csd_steps(rt):
                    peak(rt.key, verb, argv)
                peak(rt.key, "state", rt.argv("state", self.state_ids[rt.key]))
                peak(rt.key, "list", rt.argv("list"))
                self.procs.reap_orphans()
            peak("floor", "true", ["/bin/true"])
            peak("floor", "python", [self.args.python, "-c", "pass"])

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
        for rt in (*self.runtimes, Runtime("lxcri", self.lxcri.path, self.inproc_root)):
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


def report(bench: Bench, args: argparse.Namespace, load: tuple[str, str]) -> tuple[str, dict[str, Any]]:
    rows = bench.rows
    verdicts = judge({r.key: r for r in rows}, bench.rng)
    standin = os.path.realpath(args.lxcri) in (os.path.realpath(args.crun), os.path.realpath(args.runc))
    lines = [
        (f"lxcri benchmark: {args.rounds} rounds after {args.warmup} warm-up; every variant runs once "
        f"per round, in a fresh random order (seed {args.seed}); wall-clock ms"),
        f"lxcri  {args.lxcri}" + ("   (STAND-IN: same binary as a reference runtime)" if standin else ""),
        f"crun   {args.crun}",
        f"runc   {args.runc}",
        f"python {args.python}",
        podman_line(bench, args),
        f"load average {load[0]} before, {load[1]} after; {os.cpu_count()} cpus",
        "",
        timing_report(rows, verdicts),
        "",
        f"Peak RSS (ru_maxrss by GNU time, max of {min(RSS_REPEATS, args.rounds)} runs each):",
    ]
    if bench.rss_skipped:
        lines.append(f"skipped: {bench.rss_skipped}")
    else:
        lines.append(rss_report(bench.maxrss))
        floors = [f"{name} {bench.maxrss[('floor', key)] / 1024:.1f} MiB"
                  for key, name in (("true", "/bin/true"), ("python", "python -c pass"))
                  if ("floor", key) in bench.maxrss]
        lines.append("floors: " + ", ".join(floors))
    if bench.worker.vmhwm_kib:
        lines.append(f"in-process worker, peak (VmHWM) over all its runs: "
                     f"{bench.worker.vmhwm_kib / 1024:.1f} MiB, of which "
                     f"{bench.worker.base_kib / 1024:.1f} MiB before importing lxcri")
    lines += ["", "Targets:"]
    for vd in verdicts:
        name = f"{vd.target.variant} {vd.target.row} {vd.target.describe()}"
        if vd.value is None:
            lines.append(f"  {name}: not measured ({vd.reason})")
        elif vd.met is None:
            ci = f" (95% CI {vd.ci[0]:.2f}-{vd.ci[1]:.2f})" if vd.ci else ""
            lines.append(f"  {name}: {vd.value:.2f}x{ci} -> no target, reported only")
        else:
            val = f"{vd.value:.2f}x" if vd.target.kind == "ratio" else f"{vd.value:.2f} ms"
            ci = f" (95% CI {vd.ci[0]:.2f}-{vd.ci[1]:.2f})" if vd.ci else ""
            lines.append(f"  {name}: {val}{ci} -> {'met' if vd.met else 'NOT met'}")

    data = {
        "meta": {
            "rounds": args.rounds, "warmup": args.warmup, "seed": args.seed,
            "lxcri": args.lxcri, "crun": args.crun, "runc": args.runc, "python": args.python,
            "lxcri_is_standin": standin, "loadavg_before": load[0], "loadavg_after": load[1],
            "podman": args.podman, "podman_version": bench.podman.version if bench.podman else None,
            "podman_rounds": podman_rounds(bench),
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
                    } for v in r.variants if v.samples
                ],
            } for r in rows
        ],
        "targets": [
            {"row": vd.target.row, "variant": vd.target.variant, "target": vd.target.describe(),
             "value": vd.value, "met": vd.met, "ci95": list(vd.ci) if vd.ci else None,
             "reason": vd.reason or None} for vd in verdicts
        ],
        "peak_rss_kib": {f"{key} {verb}": kib for (key, verb), kib in sorted(bench.maxrss.items())},
        "peak_rss_skipped": bench.rss_skipped,
        "inproc_worker_vmhwm_kib": bench.worker.vmhwm_kib or None,
        "inproc_worker_base_rss_kib": bench.worker.base_kib or None,
    }
    return "\n".join(lines), data


def podman_rounds(bench: Bench) -> int:
    row = next((r for r in bench.rows if r.key == "podman"), None)
    if row is None or row.skipped:
        return 0
    return len(row.rounds) if row.rounds is not None else bench.args.rounds


def podman_line(bench: Bench, args: argparse.Namespace) -> str:
    if bench.podman is None or not bench.podman.version:
        return f"podman -   (row skipped: {bench.podman_skipped or 'not set up'})"
    return (f"podman {args.podman} ({bench.podman.version}): its row in {podman_rounds(bench)} of "
            f"the {args.rounds} rounds, spread evenly, and in every warm-up round")


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def resolve(name: str, given: str | None) -> str:
    path = given or shutil.which(name)
    if not path or not os.access(path, os.X_OK):
        raise BenchError(f"{name}: not found or not executable ({given or 'searched PATH'})")
    return os.path.abspath(path)


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
    p.add_argument("--warmup", type=int, default=3, help="uncounted rounds first (default 3)")
    p.add_argument("--seed", type=int, default=None, help="shuffle seed (default: random)")
    p.add_argument("--json", type=Path, help="also write raw samples and summaries here")
    args = p.parse_args(argv)
    if args.rounds < 2 or args.warmup < 0:
        p.error("--rounds must be >= 2 and --warmup >= 0")
    if args.podman_rounds < 0 or args.podman_rounds == 1:
        p.error("--podman-rounds must be 0 (skip the row) or >= 2")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 31)
    return args


def find_podman(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(podman path, None), or (None, why its row is skipped)."""
    if args.podman_rounds == 0:
        return None, "--podman-rounds 0"
    if args.podman:
        path = resolve("podman", args.podman)  # asked for by name: an error if missing
    else:
        found = shutil.which("podman")
        if not found:
            return None, "podman not found in PATH (Debian: podman conmon)"
        path = os.path.abspath(found)
    if find_conmon() is None:
        return None, "conmon not found (Debian: conmon)"
    return path, None


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
        args.time = find_gnu_time()
        args.podman, args.podman_skip = find_podman(args)
        become_subreaper()
        workdir = Path(tempfile.mkdtemp(prefix=PREFIX))
        bench = Bench(args, workdir)
        load_before = loadavg()
        bench.setup()
        bench.measure()
        load_after = loadavg()
        bench.measure_rss()
        if bench.worker.chan is not None:
            bench.worker.fetch_vmhwm()
        bench.teardown_state()
        text, data = report(bench, args, (load_before, load_after))
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
