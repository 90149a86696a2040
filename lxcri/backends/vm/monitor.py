"""The vm backend's monitor: the per-container process that owns QEMU, its QMP socket and its ports.

`create` double-forks it (own session, the caller's stdio) and waits on its status
pipe. The monitor joins the container's memory cgroup, starts QEMU (which dies with it:
PR_SET_PDEATHSIG), holds the host ends of the sockets QEMU's chardevs use (QMP and one
virtio-serial port per slot, lxcri.0 .. lxcri.N-1) and serves lxcri's later calls on
ctl.sock in the state directory. The monitor's pid is the container's pid, and it exits
with the container's exit code, so an engine that waits for that pid (conmon) sees it.

Slot 0 carries the container's process: on the agent's hello the monitor sends the
hostname, the mounts and the process, then "R"; the agent's "r" makes the container
`created` ("ready" on the status pipe). `start` sends "S"; stdout and stderr frames go
to the monitor's fds 1 and 2, its fd 0 feeds stdin; the "X" frame is the exit code,
recorded in `exit` (and "exit N" on the status pipe) before QEMU is told to quit.
Slots 1.. serve `exec`: the exec'ing lxcri sends its stdio fds with the request
(SCM_RIGHTS) and waits on the connection for {"pid"} and {"exit"}.

With a terminal (process.terminal and a console socket) the monitor's stdio is the raw
slave of a host pty whose master went to the console socket; the agent gives the
process a pty in the guest, and the monitor forwards the slave's window size.

ctl.sock requests (one JSON line each, one JSON line answers): start, kill {signal,
all}, pause, resume, exec {process} (+ 3 fds). Files in the state directory: see
lxcri.backends.vm.backend.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

_HEAD = struct.Struct("!cI")
_SIGKILL = 9
# Signals whose default action ends a process: sent to a container not started yet, they
# end its VM (the process never ran), as a signal ends a waiting init elsewhere.
_FATAL = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 25, 26, 27,
                    29, 30, 31})
PR_SET_PDEATHSIG = 1
WINSIZE_POLL = 0.5  # seconds between looks at a terminal's size
KILL_GRACE = 10.0  # seconds the guest has to carry out a KILL before QEMU is killed


def frame(kind: str, payload: bytes = b"") -> bytes:
    return _HEAD.pack(kind.encode(), len(payload)) + payload


def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def spawn(state_dir: str, plan: Dict[str, Any], launch: Dict[str, Any]) -> int:
    """Double-fork the monitor; return the read end of its status pipe."""
    r, w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child processes
        code = 1
        try:
            os.close(r)
            os.setsid()
            if os.fork() == 0:
                Monitor(state_dir, plan, launch, w).main()
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break
    return r


class Slot:
    __slots__ = ("index", "sock", "rx", "client", "fds", "stdin_open", "busy", "pid", "terminal",
                 "winsize")

    def __init__(self, index: int, sock: socket.socket) -> None:
        self.index = index
        self.sock = sock
        self.rx = bytearray()
        self.client: Optional[socket.socket] = None  # the exec'ing lxcri (slots 1..)
        self.fds: List[int] = [0, 1, 2]              # where stdin comes from, stdout/err go
        self.stdin_open = False
        self.busy = False
        self.pid = 0
        self.terminal = False
        self.winsize: Optional[Tuple[int, int]] = None


class Monitor:  # pragma: no cover - runs in the monitor process (tested end to end)
    def __init__(self, state_dir: str, plan: Dict[str, Any], launch: Dict[str, Any],
                 status_w: int) -> None:
        self.dir = state_dir
        self.plan = plan
        self.launch = launch
        self.status_w = status_w
        self.started = False
        self.ready = False
        self.paused = False
        self.kill_code: Optional[int] = None
        self.kill_deadline: Optional[float] = None  # KILL sent into the guest: QEMU's end
        self.exit_code: Optional[int] = None
        self.qemu_pid = 0
        self.log_fd = -1
        self.t0 = 0.0

    # -- plumbing ---------------------------------------------------------------------

    def log(self, text: str) -> None:
        try:
            os.write(self.log_fd, f"{time.strftime('%H:%M:%S')} {text}\n".encode())
        except OSError:
            pass

    def report(self, line: str) -> None:
        if self.status_w < 0:
            return
        try:
            os.write(self.status_w, (line.replace("\n", " ") + "\n").encode())
        except OSError:
            pass  # nobody listens any more (a detached create): the files say it all

    def file(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def send(self, slot: Slot, kind: str, payload: bytes = b"") -> None:
        try:
            slot.sock.sendall(frame(kind, payload))
        except OSError as exc:
            self.log(f"slot {slot.index}: cannot send {kind}: {exc}")

    def send_process(self, slot: Slot, proc: Dict[str, Any]) -> None:
        for arg in proc["args"]:
            self.send(slot, "a", arg.encode())
        for env in proc["env"]:
            self.send(slot, "e", env.encode())
        self.send(slot, "c", proc["cwd"].encode())
        self.send(slot, "u", f"{proc['uid']} {proc['gid']}".encode())
        for gid in proc["groups"]:
            self.send(slot, "g", str(gid).encode())
        slot.terminal = bool(proc.get("terminal"))
        slot.winsize = None
        if slot.terminal:
            self.send(slot, "T")
            self.check_winsize(slot)

    def check_winsize(self, slot: Slot) -> None:
        """Forward the host terminal's size (the engine sets it on the master) to the guest."""
        import fcntl
        import termios

        try:
            rows, cols, _x, _y = struct.unpack(
                "HHHH", fcntl.ioctl(slot.fds[1], termios.TIOCGWINSZ, b"\0" * 8))
        except OSError:
            return
        if (rows, cols) != slot.winsize and rows:
            slot.winsize = (rows, cols)
            self.send(slot, "W", f"{rows} {cols}".encode())

    # -- main -------------------------------------------------------------------------

    def main(self) -> None:
        code = 255
        try:
            tty = self.launch.get("tty_fd")
            if tty is not None:  # the process's terminal is the monitor's stdio
                for fd in (0, 1, 2):
                    os.dup2(tty, fd)
            os.closerange(3, self.status_w)
            os.closerange(self.status_w + 1, 1 << 16)
            os.chdir(self.dir)
            self.log_fd = os.open(self.file("monitor.log"),
                                  os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            from lxcri.host.procfs import starttime

            write_atomic(self.file("monitor"), f"{os.getpid()} {starttime(os.getpid())}\n")
            code = self.run()
        except BaseException as exc:
            self.log(f"monitor failed: {type(exc).__name__}: {exc}")
            self.report(f"fail {exc}")
            self.stop_qemu()
        finally:
            try:
                os.unlink(self.file("ctl.sock"))
            except OSError:
                pass
            os._exit(code & 0xff)

    def join_cgroup(self) -> None:
        from lxcri.backends.vm import cgroup

        where = self.launch.get("cgroup")
        if where:
            cgroup.join(where, os.getpid())

    def start_qemu(self) -> Any:
        import subprocess

        from lxcri.backends.vm import guest

        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                 for _ in range(self.launch["slots"] + 1)]
        qmp_host, qmp_guest = pairs[0]
        self.slots = [Slot(i, host) for i, (host, _g) in enumerate(pairs[1:])]
        guest_fds = [g.fileno() for _h, g in pairs]
        argv = guest.qemu_argv(self.launch["qemu"], self.launch["guest_dir"], self.plan,
                               accel_name=self.launch["accel"], slot_fds=guest_fds[1:],
                               qmp_fd=guest_fds[0], console=self.file("console.log"),
                               name=f"lxcri-vm-{self.launch['id']}")
        write_atomic(self.file("qemu.argv"), json.dumps(argv))
        qlog = os.open(self.file("qemu.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

        def in_child() -> None:
            import ctypes
            import signal

            ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

        self.t0 = time.time()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=qlog,
                                pass_fds=guest_fds, preexec_fn=in_child, close_fds=True)
        os.close(qlog)
        for _h, g in pairs:
            g.close()
        self.qemu_pid = proc.pid
        from lxcri.host.procfs import starttime

        write_atomic(self.file("qemu"), f"{proc.pid} {starttime(proc.pid)}\n")
        self.log(f"qemu pid {proc.pid}: {' '.join(argv)}")
        self.qmp = qmp_host
        self.qmp_rx = bytearray()
        try:
            self.qmp_command("qmp_capabilities")
        except OSError:
            status = proc.wait()
            raise RuntimeError(f"QEMU exited ({status}): {self.qemu_log_tail()}") from None
        return proc

    def console_tail(self) -> str:
        """The guest kernel's last console line (a panic, say)."""
        try:
            with open(self.file("console.log"), "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
                lines = [ln.strip() for ln in f.read().decode(errors="replace").splitlines()]
        except OSError:
            return ""
        # microvm has no PCI: every boot logs that, and it says nothing about a failure.
        lines = [ln for ln in lines if ln and "No config space access function" not in ln]
        return lines[-1] if lines else ""

    def qemu_log_tail(self) -> str:
        try:
            with open(self.file("qemu.log"), "rb") as f:
                lines = f.read().decode(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def qmp_command(self, command: str) -> Dict[str, Any]:
        """Send one QMP command and wait for its answer (events in between are logged)."""
        self.qmp.sendall(json.dumps({"execute": command}).encode() + b"\n")
        while True:
            while b"\n" not in self.qmp_rx:
                chunk = self.qmp.recv(65536)
                if not chunk:
                    raise OSError("QEMU closed its QMP socket")
                self.qmp_rx += chunk
            line, _, rest = bytes(self.qmp_rx).partition(b"\n")
            self.qmp_rx = bytearray(rest)
            msg = json.loads(line)
            if "return" in msg or "error" in msg:
                return dict(msg)
            self.log(f"qmp: {line.decode(errors='replace')}")

    def stop_qemu(self) -> None:
        import signal

        if self.qemu_pid:
            try:
                os.kill(self.qemu_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def listen(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        try:
            os.unlink("ctl.sock")
        except FileNotFoundError:
            pass
        sock.bind("ctl.sock")  # relative: the state dir's path may exceed sun_path
        os.chmod("ctl.sock", 0o600)
        sock.listen(16)
        return sock

    def run(self) -> int:
        import select

        self.join_cgroup()
        proc = self.start_qemu()
        ctl = self.listen()
        qemu_fd = os.pidfd_open(proc.pid)
        poller = select.poll()
        handlers: Dict[int, Any] = {}

        def watch(fd: int, fn: Any, events: int = select.POLLIN) -> None:
            handlers[fd] = fn
            poller.register(fd, events)

        def unwatch(fd: int) -> None:
            handlers.pop(fd, None)
            try:
                poller.unregister(fd)
            except (KeyError, ValueError):
                pass

        self.watch, self.unwatch = watch, unwatch
        for slot in self.slots:
            watch(slot.sock.fileno(), lambda s=slot: self.on_slot(s))
        watch(ctl.fileno(), lambda: self.on_accept(ctl))
        watch(self.qmp.fileno(), self.on_qmp)
        watch(qemu_fd, lambda: None)
        deadline = time.monotonic() + float(self.launch["boot_timeout"])
        while True:
            if self.exit_code is not None:
                break
            timeout = None if self.ready else max(0.0, deadline - time.monotonic())
            if self.kill_deadline is not None:
                left = max(0.0, self.kill_deadline - time.monotonic())
                timeout = left if timeout is None else min(timeout, left)
            terminals = [s for s in self.slots if s.terminal and (s.index == 0 or s.busy)]
            if terminals:  # no SIGWINCH reaches the monitor: poll the size
                timeout = WINSIZE_POLL if timeout is None else min(timeout, WINSIZE_POLL)
            events = poller.poll(None if timeout is None else int(timeout * 1000) + 1)
            for slot in terminals:
                self.check_winsize(slot)
            if self.kill_deadline is not None and time.monotonic() >= self.kill_deadline:
                # The guest did not end the process after a KILL: end the VM instead.
                self.log("KILL not carried out by the guest in time: killing QEMU")
                self.kill_code, self.kill_deadline = 128 + _SIGKILL, None
                self.stop_qemu()
                continue
            if not events and not self.ready:
                self.log("boot timed out")
                last = self.console_tail()
                self.report(f"fail the VM did not boot within {self.launch['boot_timeout']}s "
                            "(raise [runtimes.vm] boot_timeout in lxcri.toml)"
                            + (f"; the guest's console said: {last}" if last else ""))
                self.stop_qemu()
                proc.wait()
                return 255
            for fd, _ev in events:
                if fd == qemu_fd:
                    return self.qemu_gone(proc)
                fn = handlers.get(fd)
                if fn is not None:
                    fn()
        code = self.exit_code
        try:
            self.qmp_command("quit")
        except (OSError, ValueError):
            self.stop_qemu()
        try:
            proc.wait(10)
        except Exception:
            self.stop_qemu()
            proc.wait()
        return code

    def qemu_gone(self, proc: Any) -> int:
        status = proc.wait()
        if self.exit_code is not None:
            return self.exit_code
        if not self.ready:
            tail = self.qemu_log_tail()
            last = self.console_tail()
            self.report(f"fail QEMU exited ({status}) before the guest was ready"
                        + (f": {tail}" if tail else "")
                        + (f"; the guest's console said: {last}" if last else ""))
            return 255
        code = self.kill_code if self.kill_code is not None else 255
        self.log(f"qemu exited ({status}) without an exit code from the guest: {code}")
        self.record_exit(code)
        return code

    def record_exit(self, code: int) -> None:
        self.exit_code = code
        write_atomic(self.file("exit"), f"{code}\n")
        self.report(f"exit {code}")

    # -- the ports ----------------------------------------------------------------------

    def on_slot(self, slot: Slot) -> None:
        try:
            data = slot.sock.recv(1 << 16)
        except OSError:
            data = b""
        if not data:
            self.unwatch(slot.sock.fileno())
            return
        slot.rx += data
        while len(slot.rx) >= _HEAD.size:
            kind_b, length = _HEAD.unpack_from(slot.rx)
            if len(slot.rx) < _HEAD.size + length:
                break
            payload = bytes(slot.rx[_HEAD.size:_HEAD.size + length])
            del slot.rx[:_HEAD.size + length]
            self.on_frame(slot, kind_b.decode(errors="replace"), payload)

    def on_frame(self, slot: Slot, kind: str, payload: bytes) -> None:
        text = payload.decode(errors="replace")
        if kind == "O":
            self.out(slot.fds[1], payload)
        elif kind == "E":
            self.out(slot.fds[2], payload)
        elif kind == "H":
            self.on_hello(slot, text)
        elif kind == "r":
            self.ready = True
            self.log("guest ready")
            write_atomic(self.file("ready"), "")
            self.report("ready")
        elif kind == "P":
            slot.pid = int(text or 0)
            if slot.index == 0:
                write_atomic(self.file("guest-pid"), f"{slot.pid}\n")
            else:
                self.answer(slot.client, {"pid": slot.pid})
        elif kind == "F":
            self.log(f"slot {slot.index}: {text}")
            if not self.ready:
                self.report(f"fail {text}")
                self.stop_qemu()
            elif slot.index == 0:
                self.out(slot.fds[2], f"lxcri: container `{self.launch['id']}`: {text}\n"
                         .encode())
            else:
                self.answer(slot.client, {"message": text})
        elif kind == "X":
            code = int(text or 255)
            if slot.index == 0:
                self.log(f"process exited: {code}")
                self.record_exit(code)
            else:
                self.answer(slot.client, {"exit": code})
                self.end_exec(slot)
        else:
            self.log(f"slot {slot.index}: unknown frame {kind!r}")

    def on_hello(self, slot: Slot, text: str) -> None:
        now = time.time()
        uptime, _, release = text.partition(" ")
        try:
            guest_up = float(uptime)
        except ValueError:
            guest_up = 0.0
        boot = now - self.t0
        write_atomic(self.file("boot.json"), json.dumps({
            "qemu_to_hello": round(boot, 3), "guest_uptime_at_hello": guest_up,
            "to_first_instruction": round(max(0.0, boot - guest_up), 3),
            "kernel": release, "accel": self.launch["accel"]}))
        self.log(f"hello after {boot:.2f}s (guest uptime {guest_up}s, kernel {release})")
        plan = self.plan
        if plan.get("hostname"):
            self.send(slot, "h", plan["hostname"].encode())
        for fstype, source, target, flags, data in plan["mounts"]:
            self.send(slot, "M", b"\0".join(x.encode() for x in
                                            (fstype, source, target, flags, data)) + b"\0")
        self.send_process(slot, plan["process"])
        self.send(slot, "R")

    def out(self, fd: int, data: bytes) -> None:
        if fd < 0:
            return
        view = memoryview(data)
        while view:
            try:
                n = os.write(fd, view)
            except InterruptedError:
                continue
            except BlockingIOError:
                import select

                select.select([], [fd], [], 1.0)
                continue
            except OSError:
                return  # the reader went away: the process's output is dropped
            view = view[n:]

    def on_stdin(self, slot: Slot) -> None:
        try:
            data = os.read(slot.fds[0], 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self.send(slot, "I", data)
        if not data:
            self.unwatch(slot.fds[0])
            slot.stdin_open = False

    def open_stdin(self, slot: Slot) -> None:
        fd = slot.fds[0]
        try:
            os.fstat(fd)
        except OSError:
            self.send(slot, "I")
            return
        slot.stdin_open = True
        self.watch(fd, lambda: self.on_stdin(slot))

    # -- ctl.sock -----------------------------------------------------------------------

    def answer(self, conn: Optional[socket.socket], doc: Dict[str, Any]) -> None:
        if conn is None:
            return
        try:
            conn.sendall(json.dumps(doc).encode() + b"\n")
        except OSError:
            pass

    def on_accept(self, ctl: socket.socket) -> None:
        try:
            conn, _ = ctl.accept()
        except OSError:
            return
        conn.settimeout(5)
        try:
            msg, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
            while not msg.endswith(b"\n"):
                more = conn.recv(1 << 20)
                if not more:
                    break
                msg += more
            request = json.loads(msg)
        except (OSError, ValueError) as exc:
            self.log(f"ctl: bad request: {exc}")
            conn.close()
            return
        conn.settimeout(None)
        op = request.get("op")
        try:
            if op == "exec":
                self.on_exec(conn, request, fds)
                return  # the connection stays open until the process exits
            for fd in fds:
                os.close(fd)
            self.answer(conn, self.on_request(op, request))
        except Exception as exc:  # one bad request must not end the container
            self.log(f"ctl {op}: {type(exc).__name__}: {exc}")
            self.answer(conn, {"error": f"{type(exc).__name__}: {exc}"})
        conn.close()

    def on_request(self, op: str, request: Dict[str, Any]) -> Dict[str, Any]:
        slot = self.slots[0]
        if op == "start":
            if self.started:
                return {"error": "it has been started already"}
            self.started = True
            write_atomic(self.file("started"), "")
            self.send(slot, "S")
            self.open_stdin(slot)
            return {"ok": True}
        if op == "kill":
            sig = int(request["signal"])
            if not self.started or (self.paused and sig == _SIGKILL):
                if sig in _FATAL:
                    self.kill_code = 128 + sig
                    self.stop_qemu()
                return {"ok": True}
            self.send(slot, "K", f"{sig}{' all' if request.get('all') else ''}".encode())
            if sig == _SIGKILL and self.kill_deadline is None:
                self.kill_deadline = time.monotonic() + KILL_GRACE
            return {"ok": True}
        if op in ("pause", "resume"):
            reply = self.qmp_command("stop" if op == "pause" else "cont")
            if "error" in reply:
                return {"error": str(reply["error"].get("desc", reply["error"]))}
            self.paused = op == "pause"
            if self.paused:
                write_atomic(self.file("paused"), "")
            else:
                try:
                    os.unlink(self.file("paused"))
                except FileNotFoundError:
                    pass
            return {"ok": True}
        return {"error": f"unknown request {op!r}"}

    def on_exec(self, conn: socket.socket, request: Dict[str, Any], fds: List[int]) -> None:
        free = [s for s in self.slots[1:] if not s.busy]
        if len(fds) != 3 or not free or not self.started or self.paused:
            for fd in fds:
                os.close(fd)
            why = ("every exec slot is in use: wait for an exec to finish" if not free else
                   "it is not running" if not self.started or self.paused else
                   "the exec request carried no stdio")
            self.answer(conn, {"error": why})
            conn.close()
            return
        slot = free[0]
        slot.busy = True
        slot.client = conn
        slot.fds = list(fds)
        for fd in fds:
            os.set_inheritable(fd, False)
        self.watch(conn.fileno(), lambda: self.on_client(slot))
        self.send_process(slot, request["process"])
        self.send(slot, "S")
        self.open_stdin(slot)

    def on_client(self, slot: Slot) -> None:
        """The exec'ing lxcri went away (or sent a signal request) before its process ended."""
        assert slot.client is not None
        try:
            data = slot.client.recv(4096)
        except OSError:
            data = b""
        if data:
            for line in data.splitlines():
                try:
                    sig = int(json.loads(line).get("signal", 0))
                except (ValueError, AttributeError):
                    continue
                self.send(slot, "K", str(sig).encode())
            return
        self.unwatch(slot.client.fileno())
        self.send(slot, "K", str(_SIGKILL).encode())
        slot.client.close()
        slot.client = None

    def end_exec(self, slot: Slot) -> None:
        if slot.stdin_open:
            self.unwatch(slot.fds[0])
        for fd in slot.fds:
            os.close(fd)
        if slot.client is not None:
            self.unwatch(slot.client.fileno())
            slot.client.close()
        slot.client, slot.fds, slot.busy, slot.stdin_open, slot.pid = None, [-1, -1, -1], \
            False, False, 0
        slot.terminal = False

    def on_qmp(self) -> None:
        try:
            chunk = self.qmp.recv(65536)
        except OSError:
            chunk = b""
        if not chunk:
            self.unwatch(self.qmp.fileno())
            return
        self.qmp_rx += chunk
        while b"\n" in self.qmp_rx:
            line, _, rest = bytes(self.qmp_rx).partition(b"\n")
            self.qmp_rx = bytearray(rest)
            self.log(f"qmp: {line.decode(errors='replace')}")
