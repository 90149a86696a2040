"""Runs backend operations for a long-lived Python process in a sealed helper process.

libcrun assumes it owns the process it runs in: run/create block every signal and
never restore the mask, make the caller a child subreaper, replace its session
keyring, chdir, reap any child with waitpid(-1), fork copies of the caller that
hold all of its fds and call exit(), and keep process-global log settings. A CLI
process can live with that; a Python program that imports lxcri cannot.

So a Runtime starts one helper: a copy of this interpreter exec'd from a sealed
memfd (the CVE-2019-5736 guard, lxcri.sealed) with no fds of the caller. The
helper preloads the backend and, for each request, has a child perform the one
operation and exit: every process-wide effect dies with that child. For crun the
child is forked by the zygote (launcher/zygote.c), a small C process the helper
starts once from a sealed memfd, because forking the interpreter cost more than
crun's whole run; for the other backends, and where there is no zygote, it is a
Python fork of the helper. Both are child subreapers, so containers orphaned by
those children are reaped there instead of by the host's pid 1 (which here does
not reap at all).

Protocol: requests go over a SEQPACKET socket with the stdio fds and a fresh reply
socket attached (SCM_RIGHTS); the reply is one length-prefixed JSON document, so
a created container that still holds a copy of the reply socket cannot stall it.
"""
from __future__ import annotations

import fcntl
import gc
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple, Union

from lxcri import errors, sealed
from lxcri.backends.crun import zygote as protocol
from lxcri.backends.crun.zygote import Operation

_MAX_REQUEST = 1 << 20
_MAX_FDS = 1 + 3 + 250  # the reply socket, stdio, and fds kept by --preserve-fds
_LEN = struct.Struct("!Q")
# Operations that only read state or send a signal: libcrun neither forks, waits,
# blocks signals nor changes the cwd for them, so the helper answers them itself
# (no fork: about 0.3 ms instead of 3 ms a call).
_INLINE_OPS = frozenset({"state_json", "list", "kill"})
# The request for a share of the helper's socket to its zygote (Helper.zygote_socket).
_ZYGOTE_SOCKET = "zygote_socket"


def _send_reply(sock: socket.socket, payload: Dict[str, Any]) -> None:
    data = json.dumps(payload).encode()
    sock.sendall(_LEN.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise errors.HelperError("the lxcri helper process exited before it answered")
        buf += chunk
    return bytes(buf)


def _read_reply(sock: socket.socket, head: bytes = b"") -> Dict[str, Any]:
    """A reply _send_reply sent; head: what of it was read already."""
    if len(head) < _LEN.size:
        head += _recv_exact(sock, _LEN.size - len(head))
    (n,) = _LEN.unpack(head)
    reply: Dict[str, Any] = json.loads(_recv_exact(sock, n))
    return reply


# What every LxcriError carries in its constructor and attributes; anything else in an
# instance's __dict__ that JSON can carry travels in "attrs".
_ERROR_FIELDS = ("message", "errno", "container_id")


def _encode_error(exc: BaseException) -> Dict[str, Any]:
    """An exception as the helper sends it: its class (every lxcri class is in
    lxcri.errors), the builtin bases it has, its message and attributes."""
    if not isinstance(exc, errors.LxcriError):
        exc = errors.LxcriError(f"internal error: {type(exc).__name__}: {exc}")
    attrs = {}
    for key, value in vars(exc).items():
        if key in _ERROR_FIELDS or key.startswith("_"):
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            attrs[key] = value
    builtins = [c.__name__ for c in type(exc).__mro__
                if c.__module__ == "builtins" and c not in (object, BaseException, Exception)]
    return {"type": type(exc).__name__, "message": exc.message, "errno": exc.errno,
            "container_id": exc.container_id, "attrs": attrs, "builtins": builtins}


def _decode_error(d: Dict[str, Any]) -> errors.LxcriError:
    """The same exception on this side: same class, message and attributes. A class
    this side does not know (another lxcri version's helper) becomes an LxcriError
    that still has the builtin bases the original had, so `except LookupError` holds."""
    name = str(d.get("type", ""))
    found = getattr(errors, name, None)
    cls: type[errors.LxcriError] = errors.LxcriError
    if isinstance(found, type) and issubclass(found, errors.LxcriError):
        cls = found
    else:
        import builtins as builtins_mod

        bases = tuple(b for b in (getattr(builtins_mod, n, None) for n in d.get("builtins", ()))
                      if isinstance(b, type) and issubclass(b, Exception)
                      and not issubclass(errors.LxcriError, b))
        if bases:
            cls = type(name or "LxcriError", (errors.LxcriError, *bases), {})
    exc = cls.__new__(cls)
    Exception.__init__(exc, d.get("message", "unknown error"))
    exc.message = str(d.get("message", "unknown error"))
    exc.errno = d.get("errno")
    exc.container_id = d.get("container_id")
    for key, value in (d.get("attrs") or {}).items():
        setattr(exc, key, value)
    return exc


class Helper:
    """Client side: owns one helper process, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._ctrl: Optional[socket.socket] = None
        # The helper's zygote, for crun's create, run and exec straight from this process
        # (direct); None: not asked yet, False: the helper has none.
        self._zygote: Union[None, bool, socket.socket] = None

    def _ensure_started(self) -> socket.socket:
        if self._ctrl is not None and self._proc is not None and self._proc.poll() is None:
            return self._ctrl
        self._stop_locked()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        exe = sealed.sealed_executable_fd()
        argv, env = sealed.sealed_python_argv(
            "from lxcri.isolation import serve;serve(int(sys.argv[1]),int(sys.argv[2]))",
            [str(theirs.fileno()), str(exe)])
        try:
            self._proc = subprocess.Popen(
                argv, executable=f"/proc/self/fd/{exe}", env=env,
                pass_fds=(theirs.fileno(), exe), close_fds=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._ctrl = ours
        return ours

    def call(self, backend: Dict[str, Any], op: str, args: Sequence[Any],
             kwargs: Dict[str, Any], stdio: Tuple[int, int, int]) -> Any:
        reply_ours, reply_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        from lxcri.options import encode

        request = json.dumps({"backend": backend, "op": op,
                              "args": [encode(arg) for arg in args], "kwargs": kwargs}).encode()
        try:
            with self._lock:
                ctrl = self._ensure_started()
                try:
                    socket.send_fds(ctrl, [request], [reply_theirs.fileno(), *stdio])
                except OSError as exc:
                    raise errors.HelperError(f"cannot reach the lxcri helper process: {exc}") from None
            reply_theirs.close()
            reply = _read_reply(reply_ours)
        finally:
            reply_ours.close()
            reply_theirs.close()
        if reply.get("ok"):
            return reply.get("result")
        raise _decode_error(reply.get("error") or {})

    def zygote_socket(self) -> Optional[socket.socket]:
        """A socket to the helper's zygote (the helper's own end, shared), or None where
        the helper has no zygote (a build without it, LXCRI_HELPER_FORK=python, it did
        not come up)."""
        with self._lock:
            if (self._zygote is not None and self._proc is not None
                    and self._proc.poll() is None):
                return self._zygote if isinstance(self._zygote, socket.socket) else None
            ctrl = self._ensure_started()
            reply_ours, reply_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                request = json.dumps({"op": _ZYGOTE_SOCKET}).encode()
                try:
                    socket.send_fds(ctrl, [request], [reply_theirs.fileno(), 0, 1, 2])
                except OSError as exc:
                    raise errors.HelperError(f"cannot reach the lxcri helper process: {exc}") from None
                reply_theirs.close()
                head, fds, _flags, _addr = socket.recv_fds(reply_ours, _LEN.size, 1,
                                                           socket.MSG_CMSG_CLOEXEC)
                reply = _read_reply(reply_ours, head)
            finally:
                reply_ours.close()
                reply_theirs.close()
            if reply.get("result") and len(fds) == 1:
                self._zygote = socket.socket(fileno=fds[0])
                return self._zygote
            for fd in fds:
                os.close(fd)
            self._zygote = False
            return None

    def forget_zygote(self, sock: socket.socket) -> None:
        """sock no longer reaches the zygote: the next operation asks the helper again,
        which starts a new one (or says it has none: then all go through the helper)."""
        with self._lock:
            if self._zygote is sock:
                sock.close()
                self._zygote = None

    def direct(self, backend: Any, op: str, args: Sequence[Any], kwargs: Dict[str, Any],
               stdio: Sequence[int]) -> Tuple[bool, Any]:
        """(True, its result) for crun's op (create, run, exec) performed by `backend` (a
        CrunBackend of this process) with its libcrun call in a child of the helper's
        zygote, straight from this process: the helper's hop (a thread, JSON both ways,
        the backend's Python) costs about 1.5 ms of a 7 ms run. (False, None) where it
        cannot (no zygote), for the caller to go through the helper. libcrun is never
        loaded here: this process's state stays untouched."""
        sock = self.zygote_socket()
        if sock is None:
            return False, None
        try:
            return True, getattr(backend.calling(_Direct(sock, stdio)), op)(*args, **kwargs)
        except _Unreachable:  # nothing was done yet
            self.forget_zygote(sock)
            return False, None
        except errors.LxcriError:
            raise
        except Exception as exc:  # as the helper would have answered it
            raise _decode_error(_encode_error(exc)) from None

    def _stop_locked(self) -> None:
        if isinstance(self._zygote, socket.socket):
            self._zygote.close()  # first: the zygote ends once the helper's end is closed too
        self._zygote = None
        if self._ctrl is not None:
            self._ctrl.close()  # EOF tells the helper to finish its work and exit
            self._ctrl = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None

    def close(self) -> None:
        with self._lock:
            self._stop_locked()

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None


# -- helper process side ---------------------------------------------------------------------
#
# The main thread receives requests. Read-only crun requests are answered inline. Other
# crun requests each get a thread, which prepares the call in Python (backend, config,
# libcrun context) and hands the libcrun operation to the zygote (launcher/zygote.c): a
# small C process, started once from a sealed memfd, that forks a child per operation.
# The thread waits for the child's result record on a pipe, with the GIL released, and
# answers. Requests for the other backends (whose code is Python that spawns processes),
# and crun requests where the zygote is not there (a build without it, or
# LXCRI_HELPER_FORK=python), run in a Python fork of the helper.

# Held while fds are received or a child is forked, so a child never inherits the fds of
# another request in flight (it closes them); re-entrant because the SIGCHLD handler runs
# on the main thread, which may hold it.
_lock = threading.RLock()
_inflight_fds: Set[int] = set()
_watched: Dict[int, Optional[int]] = {}  # pid -> wait status, for run(keep=True)
_exited = threading.Condition(_lock)
HELPER_FORK_ENV = "LXCRI_HELPER_FORK"  # "python": crun operations in Python forks too

_ZYGOTE_START_TIMEOUT_S = 10.0


class _Zygote:
    """The helper's end of the zygote: its pid and control socket."""

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock
        self.alive = True

    @classmethod
    def start(cls) -> Optional["_Zygote"]:
        """Start it (lxcri.backends.crun.zygote.spawn); None where this build has no
        zygote, LXCRI_HELPER_FORK=python asks for Python forks, or it did not come up."""
        if os.environ.get(HELPER_FORK_ENV) == "python":
            return None
        if protocol.files() is None:
            return None
        import select

        try:
            pid, fd = protocol.spawn(one_shot=False)
        except (OSError, errors.HelperError) as exc:
            _say(f"lxcri: cannot start the zygote ({exc}); operations run in forks of the helper")
            return None
        ours = socket.socket(fileno=fd)
        ready, _, _ = select.select([ours], [], [], _ZYGOTE_START_TIMEOUT_S)
        data = ours.recv(1024) if ready else b""
        if not protocol.is_ready(data):
            ours.close()
            if not data:  # it said nothing in time: it is of no use
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            _, status = os.waitpid(pid, 0)
            why = data.decode("utf-8", "replace").strip()  # the loader's (zygote-loader.c)
            _say(f"lxcri: the zygote did not come up ({why or protocol.describe(status)}); "
                 "operations run in forks of the helper")
            return None
        return cls(pid, ours)


def _say(line: str) -> None:
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


_zygote: Optional[_Zygote] = None


class _ZygoteCaller:
    """Performs one crun operation in a child of the helper's zygote, over `sock`, with
    the caller's fds `stdio` (CrunBackend.forker, CrunBackend.caller)."""

    # The library shows libcrun's messages as they come, on the caller's stderr.
    pass_through = True

    def __init__(self, stdio: Sequence[int]) -> None:
        self.stdio = list(stdio)

    def _socket(self) -> socket.socket:
        raise NotImplementedError

    def _pipe(self) -> Tuple[int, int]:
        return os.pipe2(os.O_CLOEXEC)

    def _close(self, fds: Sequence[int]) -> None:
        for fd in fds:
            os.close(fd)

    # What a failed send raises.
    unreachable: "type[errors.HelperError]" = errors.HelperError

    def call(self, op: Operation, log: Optional[str], log_format: str,
             debug: bool) -> Tuple[int, int, str, str]:
        request = protocol.request(op, log, log_format, debug, self.pass_through)
        sock = self._socket()
        r, w = self._pipe()
        try:
            try:
                # MSG_NOSIGNAL: a caller that has SIGPIPE at its default does not die
                # of a zygote that is gone.
                socket.send_fds(sock, [request], [w, *self.stdio], socket.MSG_NOSIGNAL)
            except OSError as exc:
                raise self.unreachable(f"cannot reach the lxcri zygote process: {exc}") from None
            finally:
                self._close([w])
            # The child has let go of the caller's fds when it writes this.
            ret, status, msg, logged = protocol.read_result(r)
        finally:
            self._close([r])
        if status == protocol.OP_DIED:
            raise errors.HelperError(msg)
        return ret, status, msg, logged


class _Unreachable(errors.HelperError):
    """The zygote's socket failed before the operation was sent."""


class _Direct(_ZygoteCaller):
    """Hands an operation to the helper's zygote straight from the Runtime's process
    (Helper.direct), over the share of the helper's socket to it."""

    def __init__(self, sock: socket.socket, stdio: Sequence[int]) -> None:
        super().__init__(stdio)
        self.sock = sock

    unreachable = _Unreachable

    def _socket(self) -> socket.socket:
        return self.sock


class _Forker(_ZygoteCaller):
    """The helper's caller (CrunBackend.forker); one per request, with its fds."""

    def _socket(self) -> socket.socket:
        zygote = _zygote
        if zygote is None or not zygote.alive:  # it died after the request came in
            raise errors.HelperError("the lxcri zygote process died before this operation "
                                     "reached it; the next operation starts a new one")
        return zygote.sock

    def _pipe(self) -> Tuple[int, int]:
        with _lock:  # a Python fork of the helper made meanwhile closes these
            r, w = os.pipe2(os.O_CLOEXEC)
            _inflight_fds.update((r, w))
        return r, w

    def _close(self, fds: Sequence[int]) -> None:
        _release(fds)

    def watch(self, pid: int) -> Callable[[], int]:
        """For a process that becomes ours once its parent exits (a created container's
        init): from now on its exit status is kept; the returned call waits for it."""
        with _lock:
            _watched[pid] = None

        def wait() -> int:
            gone_since: Optional[float] = None
            with _exited:
                # The zygote reaps it in a process of its own and tells us a moment
                # later: a pid gone from /proc gets a second for its status to arrive.
                while _watched.get(pid) is None:
                    if not os.path.exists(f"/proc/{pid}"):
                        now = time.monotonic()
                        if gone_since is None:
                            gone_since = now
                        elif now - gone_since > 1.0:
                            break
                    _exited.wait(0.05)
                status = _watched.pop(pid, None)
            if status is None:
                return 0  # reaped by someone else: as _wait_exit_code does
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)

        return wait


def _perform(request: Dict[str, Any], forker: Optional[_Forker] = None) -> Any:
    from lxcri import dispatch

    b = request["backend"]
    backend = dispatch.open_backend(b["runtime"], b["args"], b.get("options"), b.get("config"))
    if forker is not None:
        backend.forker = forker
    from lxcri.options import decode

    method = getattr(backend, request["op"])
    return method(*[decode(arg) for arg in request["args"]], **request["kwargs"])


def _inline(request: Dict[str, Any], embedded: bool) -> bool:
    """Whether the helper answers `request` itself: read-only libcrun calls only. Other
    backends run subprocesses, whose exit status the helper's SIGCHLD handler would reap."""
    return (embedded and request.get("op") in _INLINE_OPS
            and request.get("backend", {}).get("runtime") == "crun")


def _set_subreaper() -> bool:
    """Make the helper a child subreaper; returns whether the embedded crun is loaded."""
    # Preloaded so that forked children import nothing (an import there costs ~1 ms
    # each, paid again by every operation).
    from lxcri import dispatch, options  # noqa: F401

    try:
        from lxcri.backends.crun import (
            backend,  # noqa: F401
            binding,
        )
    except errors.BackendUnavailable:
        from lxcri.host import prctl

        try:
            prctl.set_child_subreaper(True)
        except OSError:
            pass  # as before: the helper still works, orphans go to init
        return False
    binding.prepare_process()  # libcrun's logging and handler registry, once for all children
    binding.set_child_subreaper(True)
    return True


def _outcome(request: Dict[str, Any], forker: Optional[_Forker] = None) -> Dict[str, Any]:
    try:
        return {"ok": True, "result": _perform(request, forker)}
    except BaseException as exc:  # everything goes back to the caller
        return {"ok": False, "error": _encode_error(exc)}


def _answer(reply: socket.socket, request: Dict[str, Any]) -> None:
    _send_reply(reply, _outcome(request))


def _revive_zygote() -> None:
    """On the main thread, before a request that the zygote would serve: a zygote that
    died (killed, or crashed by an operation) is started again, so that a long-lived
    Runtime does not go on in Python forks. One that cannot be started leaves
    _zygote None: Python forks from then on. The old one's socket closes when the last
    worker still holding it lets go (no fd is closed under a thread that uses it); its
    pid, if not reaped yet, is reaped as an orphan."""
    global _zygote
    if _zygote is not None and not _zygote.alive:
        with _lock:
            _zygote = _Zygote.start()


def _hand_zygote(reply_fd: int) -> None:
    """Answer Helper.zygote_socket: a share of our socket to the zygote, if it is up. The
    zygote keeps its events for us: the client only sends on it."""
    zygote = _zygote
    alive = zygote is not None and zygote.alive
    data = json.dumps({"ok": True, "result": alive}).encode()
    try:
        with socket.socket(fileno=os.dup(reply_fd)) as reply:
            socket.send_fds(reply, [_LEN.pack(len(data)) + data],
                            [zygote.sock.fileno()] if alive and zygote is not None else [])
    except OSError:
        pass  # the caller went away


def _release(fds: Sequence[int]) -> None:
    with _lock:
        for fd in fds:
            _inflight_fds.discard(fd)
            os.close(fd)


class _Workers:
    """Threads for the crun requests, kept for the next ones (starting a thread costs
    about as much as the zygote's fork)."""

    def __init__(self) -> None:
        import queue

        self._jobs: "queue.SimpleQueue[Optional[Tuple[int, List[int], Dict[str, Any]]]]" = \
            queue.SimpleQueue()
        self._idle = 0
        self._threads: List[threading.Thread] = []

    def submit(self, reply_fd: int, stdio: List[int], request: Dict[str, Any]) -> None:
        with _lock:
            if self._idle > 0:
                self._idle -= 1  # that one takes it
            else:
                thread = threading.Thread(target=self._work, name="lxcri-op")
                self._threads.append(thread)
                thread.start()
        self._jobs.put((reply_fd, stdio, request))

    def _work(self) -> None:
        # SIGCHLD goes to the main thread, whose handler reaps: a handler tripped by a
        # signal that landed on this thread would only run once the main thread wakes up
        # for something else.
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
        while True:
            job = self._jobs.get()
            if job is None:
                return
            _threaded(*job)
            with _lock:
                self._idle += 1

    def join(self) -> None:
        """Once every request is in: finish them, end the threads."""
        for _ in self._threads:
            self._jobs.put(None)
        for thread in self._threads:
            thread.join()


def _threaded(reply_fd: int, stdio: List[int], request: Dict[str, Any]) -> None:
    """A crun request on a worker thread; the zygote's child performs the libcrun call."""
    try:
        payload = _outcome(request, _Forker(stdio))
        # The caller's fds go first: once it has the answer, it may expect EOF on them.
        _release(stdio)
        stdio = []
        with socket.socket(fileno=os.dup(reply_fd)) as reply:
            _send_reply(reply, payload)
    except OSError:
        pass  # the caller went away
    finally:
        _release([reply_fd, *stdio])


def _op_child(ctrl: socket.socket, reply_fd: int, stdio: List[int], request: Dict[str, Any]) -> None:
    """In a Python fork of the helper: become the caller's stdio, perform one operation
    of a backend other than the embedded crun, answer."""
    code = 0
    gc.disable()  # a short life: collecting would only copy the helper's pages
    try:
        ctrl.close()
        if _zygote is not None:
            _zygote.sock.close()  # the zygote sees EOF when the helper closes its end
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        with _lock:  # fds of other requests in flight are not this operation's
            for fd in _inflight_fds - {reply_fd, *stdio}:
                os.close(fd)
        # Received fds may sit on the numbers they must land on (3, 4, ...): move them
        # above every target first, then put each in place. dup2'd fds are inheritable,
        # so the container gets exactly these.
        floor = len(stdio) + 3
        moved = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, floor) for fd in (reply_fd, *stdio)]
        for fd in (reply_fd, *stdio):
            os.close(fd)
        reply_fd, moved = moved[0], moved[1:]  # the reply socket stays clear of the targets
        for target, fd in enumerate(moved):
            os.dup2(fd, target)
            os.close(fd)
        payload = _outcome(request)
        # Let go of the caller's fds before it has the answer: it may expect EOF on them.
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in range(len(moved)):
            os.dup2(devnull, target)
        _send_reply(socket.socket(fileno=reply_fd), payload)
    except BaseException:
        code = 1
    finally:
        # _exit: no atexit handlers or buffered output of this copy of the helper
        os._exit(code)


def serve(ctrl_fd: int, exe_fd: int) -> None:
    """The helper's main loop (started by Helper, exec'd from a sealed memfd)."""
    import select

    os.close(exe_fd)
    os.set_inheritable(ctrl_fd, False)
    # The caller's systemd variables are the caller's: a container gets them only from
    # its options (lxcri.options), and nothing the helper starts inherits them.
    from lxcri.options import LISTEN_VARS

    for name in ("NOTIFY_SOCKET", *LISTEN_VARS):
        os.environ.pop(name, None)
    embedded = _set_subreaper()
    global _zygote
    if embedded:
        _zygote = _Zygote.start()
    ctrl = socket.socket(fileno=ctrl_fd)
    pending: Dict[int, int] = {}  # Python op child pid -> its reply fd, kept to report a crash
    workers = _Workers()

    def reap(*_: object) -> None:
        with _lock:
            while True:
                try:
                    pid, status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    break
                if pid == 0:
                    break
                if _zygote is not None and pid == _zygote.pid:
                    _zygote.alive = False  # its op children are ours now, as orphans
                    _exited.notify_all()
                    continue
                if pid in _watched:
                    _watched[pid] = status
                    _exited.notify_all()
                    continue
                reply_fd = pending.pop(pid, None)
                if reply_fd is None:
                    continue  # an orphaned container, reparented to us
                if status != 0:
                    try:
                        _send_reply(socket.socket(fileno=os.dup(reply_fd)), {"ok": False, "error": {
                            "type": "HelperError",
                            "message": "the lxcri operation process died "
                                       f"({protocol.describe(status)})"}})
                    except OSError:
                        pass
                _inflight_fds.discard(reply_fd)
                os.close(reply_fd)

    def zygote_events() -> None:
        """What the zygote reaped: created containers' inits (a run(keep=True) waits
        for those)."""
        assert _zygote is not None
        while True:
            try:
                data = _zygote.sock.recv(protocol.EVENT.size, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""
            if len(data) != protocol.EVENT.size:
                with _lock:
                    _zygote.alive = False
                    _exited.notify_all()
                return
            kind, pid, status = protocol.EVENT.unpack(data)
            with _lock:
                if kind == protocol.EV_REAPED and pid in _watched:
                    _watched[pid] = status
                    _exited.notify_all()

    signal.signal(signal.SIGCHLD, reap)
    gc.freeze()  # keep what is loaded now out of GC passes: children share it untouched
    while True:
        watching = [ctrl]
        if _zygote is not None and _zygote.alive:
            watching.append(_zygote.sock)
        readable, _, _ = select.select(watching, [], [])
        if _zygote is not None and _zygote.sock in readable:
            zygote_events()
        if ctrl not in readable:
            continue
        try:
            with _lock:
                msg, fds, _flags, _addr = socket.recv_fds(
                    ctrl, _MAX_REQUEST, _MAX_FDS, socket.MSG_CMSG_CLOEXEC | socket.MSG_DONTWAIT)
                _inflight_fds.update(fds)
        except (BlockingIOError, InterruptedError):
            continue
        except ConnectionResetError:
            break
        if not msg:
            break  # the Runtime closed: finish what runs, then exit
        if len(fds) < 4:
            _release(fds)
            continue
        reply_fd, stdio = fds[0], fds[1:]
        request = json.loads(msg)
        if request.get("op") == _ZYGOTE_SOCKET:
            _release(stdio)
            _revive_zygote()
            _hand_zygote(reply_fd)
            _release([reply_fd])
            continue
        if _inline(request, embedded):
            _release(stdio)
            try:
                with socket.socket(fileno=os.dup(reply_fd)) as reply:
                    _answer(reply, request)
            except OSError:
                pass  # the caller went away
            _release([reply_fd])
            continue
        crun = request.get("backend", {}).get("runtime") == "crun"
        if crun:
            _revive_zygote()
        if _zygote is not None and _zygote.alive and crun:
            workers.submit(reply_fd, stdio, request)
            continue
        with _lock:  # (re-entrant: the reaper may run here)
            old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCHLD])
            try:
                pid = os.fork()
                if pid == 0:
                    signal.pthread_sigmask(signal.SIG_SETMASK, old)
                    _op_child(ctrl, reply_fd, stdio, request)
                pending[pid] = reply_fd
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        _release(stdio)
    # Wait for operations still in flight (a foreground run), then leave; running
    # containers move on to our own subreaper or init.
    workers.join()
    if _zygote is not None:
        _zygote.sock.close()  # EOF: it has nothing in flight and exits
        if _zygote.alive:
            try:
                os.waitpid(_zygote.pid, 0)
            except ChildProcessError:
                pass  # the handler reaped it
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    while pending:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        if pid in pending:
            os.close(pending.pop(pid))
    reap()
    sys.exit(0)

