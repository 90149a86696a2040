"""The zygote's protocol (include/lxcri_zygote.h, launcher/zygote.c), and the CLI's way of
running one operation in a process of its own.

The zygote is a small C program: lxcri/lxcri-zygote, run from a sealed memfd copy, which
dlopen()s lxcri/_zygote.so (linked to libcrun.so.0 beside it). It serves two callers:
- the library's helper (lxcri.isolation) starts it once and hands it every crun operation
  that changes process state; it forks a child per operation. The Runtime's process
  sends it create, run and exec itself, over the helper's socket, which it shares;
- the CLI, for create, run and exec: `OneShot` starts it in one-shot mode, where it
  performs the one request in its own process and exits. The container's first process
  is then a copy of this small sealed program, not of the interpreter, so the CLI's own
  process needs no seal: for Debian's statically linked python3 that seal copies 7 MB
  (lxcri.sealed). libcrun's effects on its process (signal mask, subreaper, keyring,
  cwd, rlimits) stay in the zygote's; the CLI relays the signals it gets meanwhile.
  The command line starts that zygote early (start_early), as soon as it knows the
  command enters a container, so that it loads libcrun on another CPU while the
  interpreter goes on with its imports and checks.

A request is struct lxcri_zreq and its strings, the result pipe's write end and the
caller's fds (stdio, then the preserved ones); the answer is one struct lxcri_op_result
(and its texts) on that pipe.
"""
from __future__ import annotations

import posix
import struct

from lxcri import posixos
from lxcri.errors import BackendUnavailable, HelperError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Tuple

MAGIC = 0x317A786C
NSTR = 11
REQUEST = struct.Struct(f"=I5iI{NSTR}I")
EVENT = struct.Struct("=iii")
EV_READY, EV_REAPED = 1, 2
RESULT = struct.Struct("=iiII")  # struct lxcri_op_result
_FLAGS = {"systemd_cgroup": 1, "force_no_cgroup": 2, "detach": 4, "no_pivot": 8,
          "no_new_keyring": 16, "no_subreaper": 32}
_NULL = 0xFFFFFFFF
ONE_SHOT_ENV = "LXCRI_ONE_SHOT"  # "0": the CLI seals itself and calls libcrun in-process


_files: Optional[Tuple[Optional[Tuple[str, str]]]] = None


def files() -> Optional[Tuple[str, str]]:
    """(lxcri-zygote, _zygote.so) of this installation, or None where the build has none
    (looked up once per process: the command asks before it seals and again per call)."""
    global _files
    if _files is None:
        here = posixos.dirname(posixos.dirname(posixos.dirname(posixos.abspath(__file__))))
        loader, library = posixos.join(here, "lxcri-zygote"), posixos.join(here, "_zygote.so")
        found = (loader, library) if posixos.isfile(loader) and posixos.isfile(library) else None
        _files = (found,)
    return _files[0]


def one_shot_usable() -> bool:
    """Whether the CLI runs create, run and exec of crun through a one-shot zygote (then
    it does not seal itself first)."""
    return posixos.getenv(ONE_SHOT_ENV) != "0" and files() is not None


# The operations, LXCRI_OP_* of include/lxcri_fork.h (tests/integration/test_zygote.py holds
# them to the C's).
RUN, CREATE, EXEC, START, DELETE, PAUSE, UNPAUSE, UPDATE = range(1, 9)
OP_DIED = -1  # the status of a record the zygote wrote for a child that died without one
BAD_CONFIG = -2  # the ret of a run or create whose config.json did not load, or was refused


class Context:
    """What libcrun's context of one operation holds, as Python values: packed into a
    request for the zygote, or made into a libcrun_context_t by the backend for a call
    in its own process."""

    __slots__ = ("state_root", "id", "bundle", "pid_file", "notify_socket", "console_socket",
                 "preserve_fds", "listen_fds", "systemd_cgroup", "force_no_cgroup", "detach",
                 "no_pivot", "no_new_keyring", "no_subreaper")

    def __init__(self, state_root: str, id: str) -> None:
        self.state_root = state_root
        self.id = id
        self.bundle: Optional[str] = None
        self.pid_file: Optional[str] = None
        self.notify_socket: Optional[str] = None
        self.console_socket: Optional[str] = None
        self.preserve_fds = 0
        self.listen_fds = 0
        self.systemd_cgroup = False
        self.force_no_cgroup = False
        self.detach = False
        self.no_pivot = False
        self.no_new_keyring = False
        self.no_subreaper = False  # read only by libcrun 1.8.1 (the zygote knows)


class Operation:
    """One libcrun operation that changes process state (struct lxcri_op): kind (RUN,
    ...), its context, arg (exec: the process file; update: the resources JSON), flag
    (delete: force), config (run, create: the config.json to load) and cwd (where to
    call it from)."""

    __slots__ = ("kind", "context", "arg", "flag", "config", "cwd")

    def __init__(self, kind: int, context: Context, *, arg: Optional[bytes] = None,
                 flag: int = 0, config: Optional[str] = None, cwd: Optional[str] = None) -> None:
        self.kind = kind
        self.context = context
        self.arg = arg
        self.flag = flag
        self.config = config
        self.cwd = cwd


_PASS_THROUGH = 64


def _utf8(value: Optional[str]) -> Optional[bytes]:
    return None if value is None else value.encode()


def request(op: Operation, log: Optional[str], log_format: str, debug: bool,
            pass_through: bool) -> bytes:
    """struct lxcri_zreq and its strings for `op`; debug: libcrun says what crun --debug
    says; pass_through: libcrun's messages also go to the caller's stderr as they come
    (else only the record brings them)."""
    ctx = op.context
    flags = _PASS_THROUGH if pass_through else 0
    for name, bit in _FLAGS.items():
        if getattr(ctx, name):
            flags |= bit
    strings = [_utf8(ctx.state_root), _utf8(ctx.id), _utf8(ctx.bundle),
               _utf8(ctx.console_socket), _utf8(ctx.pid_file), _utf8(ctx.notify_socket),
               _utf8(op.config), op.arg, _utf8(op.cwd), _utf8(log),
               None if log_format == "text" else log_format.encode()]
    head = REQUEST.pack(MAGIC, op.kind, op.flag, 1 if debug else 0, ctx.preserve_fds,
                        ctx.listen_fds, flags, *(_NULL if v is None else len(v) for v in strings))
    return head + b"".join(v for v in strings if v)


def read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = posix.read(fd, n - len(buf))
        if not chunk:
            raise HelperError("the lxcri operation process exited without an answer")
        buf += chunk
    return buf


def read_result(fd: int) -> Tuple[int, int, str, str]:
    """(ret, errno or LXCRI_OP_DIED, message, what libcrun wrote to stderr)."""
    ret, status, n, logged = RESULT.unpack(read_exact(fd, RESULT.size))
    msg = read_exact(fd, n).decode("utf-8", "replace") if n else ""
    text = read_exact(fd, logged).decode("utf-8", "replace") if logged else ""
    return ret, status, msg, text


def describe(status: int) -> str:
    """A wait status in words, for "the lxcri operation process died (...)"."""
    if posix.WIFSIGNALED(status):
        return f"killed by signal {posix.WTERMSIG(status)}"
    return f"exit status {posix.waitstatus_to_exitcode(status)}"


def spawn(one_shot: bool) -> Tuple[int, int]:
    """Start lxcri-zygote from a sealed memfd copy: (its pid, our end of its SEQPACKET
    socket). It keeps only stdio and that socket (the loader closes the rest), and starts
    with an empty signal mask and default SIGPIPE and SIGXFSZ. one_shot: it performs one
    request and exits (OneShot); else it serves a helper (lxcri.isolation). HelperError
    where this build has no zygote."""
    # The C halves: `signal` and `socket` import enum, 4-5 ms of a command.
    import _signal  # type: ignore[import-not-found]
    import _socket

    from lxcri import sealed

    found = files()
    if found is None:
        raise HelperError("this lxcri has no zygote (lxcri/lxcri-zygote): reinstall it")
    loader, library = found
    ours, theirs = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    exe = -1
    try:
        exe = sealed.sealed_copy_of(loader, "lxcri-zygote")
        posix.set_inheritable(exe, True)
        posix.set_inheritable(theirs.fileno(), True)
        argv = ["lxcri-zygote", str(theirs.fileno()), str(exe), library]
        pid = posix.posix_spawn(f"/proc/self/fd/{exe}", argv + (["one-shot"] if one_shot else []),
                                posix.environ, setsigmask=(),
                                setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
        if exe >= 0:
            posix.close(exe)
    return pid, ours.detach()


# The one-shot zygote the command line started before it checked anything (start_early):
# (pid, our end of its socket), until OneShot.call takes it or end_early ends it.
_early: Optional[Tuple[int, int]] = None


def start_early() -> None:
    """Start the CLI's one-shot zygote now, for the create, run or exec to come: its exec
    and libcrun's load (1-2 ms here) then overlap the interpreter's imports and checks.
    Not where a file of the embedded crun is missing: the crun backend then falls back
    to the crun binary (lxcri.backends.crun.open_backend), and this zygote would only
    say, on stderr, that libcrun.so.0 is not there. Where it cannot be started,
    OneShot.call tries again and reports why. Whoever calls this calls end_early() once
    the command is done (lxcri.__main__.main)."""
    from lxcri.backends.crun import embedded_problem

    global _early
    if _early is None and one_shot_usable() and embedded_problem(load=False) is None:
        try:
            _early = spawn(one_shot=True)
        except (HelperError, OSError):
            pass


# What early_problem found, once it looked: (None,) the early zygote loaded libcrun, or
# (why not,).
_early_said: Optional[Tuple[Optional[str]]] = None
_EARLY_TIMEOUT_S = 10.0
_CANNOT_LOAD = "the embedded crun backend cannot load"


def early_problem() -> Optional[str]:
    """Why the CLI's early zygote cannot serve: libcrun.so.0 (or a library it needs) is
    there but does not load, in its loader's words; None when it loaded, or where no
    early zygote was started. It waits for the zygote's first message, which a request
    would wait for anyway (libcrun's load). Looked at once; a zygote that failed is
    reaped here, and lxcri.backends.crun.open_backend falls back as for a missing file."""
    global _early_said
    if _early_said is not None:
        return _early_said[0]
    if _early is None:
        return None
    import _socket

    sock = _socket.socket(fileno=_early[1])
    try:
        sock.settimeout(_EARLY_TIMEOUT_S)
        try:
            data: Optional[bytes] = sock.recv(1024)
        except OSError:
            data = None
        sock.settimeout(None)
    finally:
        sock.detach()
    if data is not None and is_ready(data):
        problem = None
    elif data is None:
        problem = f"{_CANNOT_LOAD}: the lxcri zygote did not load libcrun in " \
                  f"{_EARLY_TIMEOUT_S:.0f} s"
    else:
        problem = _loader_said(data)
        end_early()
    _early_said = (problem,)
    return problem


def is_ready(data: bytes) -> bool:
    """Whether a zygote's message is its READY event (else: its loader's reason)."""
    return len(data) == EVENT.size and EVENT.unpack(data)[0] == EV_READY


def _loader_said(data: bytes) -> str:
    """The loader's message (launcher/zygote-loader.c) as the embedded crun's problem."""
    text = data.decode("utf-8", "replace").strip()
    return f"{_CANNOT_LOAD}: {text}" if text else \
        f"{_CANNOT_LOAD}: the lxcri zygote exited before it loaded libcrun"


def _unloaded(sock: Any) -> Optional[str]:
    """What the loader left on sock (read without waiting) when it could not load."""
    while True:
        try:
            data = sock.recv(1024, 0x40)  # MSG_DONTWAIT
        except OSError:
            return None
        if not is_ready(data):
            return _loader_said(data) if data else None


def _take_early() -> Optional[Tuple[int, int]]:
    global _early
    early, _early = _early, None
    return early


def end_early() -> None:
    """End and reap the early zygote when no operation took it (a command refused before
    any backend ran, or one another backend served)."""
    early = _take_early()
    if early is None:
        return
    pid, fd = early
    posix.close(fd)
    try:
        posix.kill(pid, 9)  # SIGKILL; it has done nothing but load libcrun
        posix.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


class OneShot:
    """How the CLI's crun backend runs create, run and exec: each in a one-shot zygote,
    a child of this process. libcrun's messages come back with the
    result, for the backend to show what its error does not say (with --debug they
    also show as they come, as crun shows them)."""

    def __init__(self) -> None:
        from lxcri.backends.crun import messages

        self.pass_through = messages.passes_through()

    def call(self, op: Operation, log: Optional[str], log_format: str,
             debug: bool) -> Tuple[int, int, str, str]:
        import _signal
        import _socket

        message = request(op, log, log_format, debug, self.pass_through)
        # Every signal but SIGCHLD is relayed to the zygote, which libcrun then passes on
        # to the container (as crun does in the foreground).
        relayed = _signal.valid_signals() - {_signal.SIGKILL, _signal.SIGSTOP}
        r, w = posix.pipe2(posix.O_CLOEXEC)
        old = _signal.pthread_sigmask(_signal.SIG_BLOCK, relayed)
        try:
            pid, fd = _take_early() or spawn(one_shot=True)
            fds = [w, 0, 1, 2, *range(3, 3 + op.context.preserve_fds)]
            # Open until the answer is read: a zygote that could not load libcrun leaves
            # its loader's reason there.
            ours = _socket.socket(fileno=fd)
            try:
                ours.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                          struct.pack(f"{len(fds)}i", *fds))])
            except OSError as exc:
                posix.kill(pid, _signal.SIGKILL)
                posix.waitpid(pid, 0)
                problem = _unloaded(ours)
                ours.close()
                if problem is not None:
                    raise BackendUnavailable(_with_remedy(problem)) from None
                raise HelperError(f"cannot reach the lxcri zygote process: {exc}") from None
            finally:
                posix.close(w)
                w = -1
            status = _wait_relaying(pid, relayed, _signal.SIGCHLD, _signal.sigtimedwait)
        finally:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, old)
            if w >= 0:
                posix.close(w)
        try:
            result = read_result(r)
        except HelperError:
            problem = _unloaded(ours)
            if problem is not None:
                raise BackendUnavailable(_with_remedy(problem)) from None
            raise HelperError(f"the lxcri operation process died ({describe(status)})") from None
        finally:
            posix.close(r)
            ours.close()
        if result[1] == OP_DIED:
            raise HelperError(result[2])
        return result


def _with_remedy(problem: str) -> str:
    return (f"{problem}: reinstall lxcri (pip install --force-reinstall lxcri), or pass "
            "--runtime runc")


def _wait_relaying(pid: int, relayed: Any, sigchld: int, sigtimedwait: Callable[..., Any]) -> int:
    """Wait for the zygote `pid` to exit, passing it every signal in `relayed` (blocked
    here) that arrives meanwhile; its wait status."""
    while True:
        done, status = posix.waitpid(pid, posix.WNOHANG)
        if done == pid:
            return status
        info = sigtimedwait(relayed, 0.05)
        if info is not None and info.si_signo != sigchld:
            try:
                posix.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass
