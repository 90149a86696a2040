"""The in-process peer, parent side: `lxcri.Runtime.run()` timed in a worker interpreter.

The worker (worker.py, started as `bench.py --worker` under the `--python` given)
is driven over a pipe, one request per line, so lxcri's own helper process stays
the worker's business, not our reaper's, and importing lxcri needs only the
worker's interpreter. The worker also runs both sides of the throughput row.
"""
from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from .common import REAP_DEADLINE_S, BenchError
from .procs import Procs, high_fd

WORKER_START_TIMEOUT_S = 120.0  # the first Runtime.run may start a helper process
WORKER_RUN_TIMEOUT_S = 60.0
WORKER_TPUT_TIMEOUT_S = 600.0  # one throughput sample: 200 containers
# The entry point the worker is started as (`bench.py --worker ...`).
ENTRY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench.py")


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

    def __init__(self, procs: Procs, python: str, root: Path, bundle: Path, workdir: Path,
                 crun: str, crun_root: Path) -> None:
        self.procs, self.python, self.root, self.bundle = procs, python, root, bundle
        self.crun, self.crun_root = crun, crun_root  # the throughput row's crun side
        self.busy = False  # a request is in flight (an interrupt may leave it so)
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
        argv = [self.python, ENTRY, "--worker", "--root", str(self.root),
                "--bundle", str(self.bundle), "--warmup-id", warmup_id,
                "--crun", self.crun, "--crun-root", str(self.crun_root)]
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
        verb, _, rest = self._ask(f"run {cid}", WORKER_RUN_TIMEOUT_S, f"Runtime.run({cid!r})").partition(" ")
        if verb != "ok":
            raise BenchError(f"in-process Runtime.run({cid!r}) failed: {rest}{self._stderr()}")
        return int(rest)

    def tput(self, side: str, prefix: str, threads: int, per: int) -> int:
        """Wall time of `threads` x `per` containers, side "lxcri" (threads through the
        worker's one Runtime) or "crun" (threads each spawning `crun run`), in ns."""
        verb, _, rest = self._ask(f"tput {side} {prefix} {threads} {per}", WORKER_TPUT_TIMEOUT_S,
                                  f"throughput ({side})").partition(" ")
        if verb != "ok":
            raise BenchError(f"in-process worker: {rest}{self._stderr()}")
        return int(rest)

    def fetch_vmhwm(self) -> None:
        """Ask the worker for its peak RSS (VmHWM: per address space, so exact)."""
        verb, *nums = self._ask("rss", WORKER_RUN_TIMEOUT_S, "rss").split()
        if verb == "ok" and len(nums) == 2 and all(n.isdigit() for n in nums):
            self.vmhwm_kib, self.base_kib = int(nums[0]), int(nums[1])

    def _ask(self, request: str, timeout: float, what: str) -> str:
        assert self.chan is not None
        self.busy = True
        self.chan.send(request)
        return self._recv(timeout, what)

    def _recv(self, timeout: float, what: str) -> str:
        assert self.chan is not None
        self.busy = True
        try:
            line = self.chan.recv(timeout)
        except TimeoutError:
            raise BenchError(f"in-process worker: no answer to {what} within {timeout:.0f} s"
                             f"{self._stderr()}") from None
        if line is None:
            raise BenchError(f"in-process worker exited during {what}{self._stderr()}")
        self.busy = False
        return line

    def _stderr(self) -> str:
        try:
            text = self.errlog.read_text(errors="replace").strip()
        except OSError:
            return ""
        return f"; worker stderr:\n{text[-2000:]}" if text else ""

    def close(self) -> None:
        """EOF on its command pipe makes the worker close the Runtime and exit; SIGTERM
        first if a request is in flight (a throughput sample then stops after the
        containers its threads are on)."""
        if self.pid is not None and self.busy and self.procs.poll(self.pid) is None:
            os.kill(self.pid, signal.SIGTERM)  # still our unreaped child: the pid is its
        self.busy = False
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

