"""The zygote's protocol (include/lxcri_zygote.h, launcher/zygote.c), and the CLI's way of
running one operation in a process of its own.

The zygote is a small C program: lxcri/lxcri-zygote, run from a sealed memfd copy, which
dlopen()s lxcri/_zygote.so (linked to libcrun.so.0 beside it). It serves two callers:
- the library's helper (lxcri.isolation) starts it once and hands it every crun operation
  that changes process state; it forks a child per operation;
- the CLI, for create, run and exec: `OneShot` starts it in one-shot mode, where it
  performs the one request in its own process and exits. The container's first process
  is then a copy of this small sealed program, not of the interpreter, so the CLI's own
  process needs no seal: for Debian's statically linked python3 that seal copies 7 MB
  (lxcri.sealed). libcrun's effects on its process (signal mask, subreaper, keyring,
  cwd, rlimits) stay in the zygote's; the CLI relays the signals it gets meanwhile.

A request is struct lxcri_zreq and its strings, the result pipe's write end and the
caller's fds (stdio, then the preserved ones); the answer is one struct lxcri_op_result
(and its texts) on that pipe.
"""
from __future__ import annotations

import os
import struct

from lxcri.errors import HelperError

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
        here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        loader, library = os.path.join(here, "lxcri-zygote"), os.path.join(here, "_zygote.so")
        found = (loader, library) if os.path.isfile(loader) and os.path.isfile(library) else None
        _files = (found,)
    return _files[0]


def one_shot_usable() -> bool:
    """Whether the CLI runs create, run and exec of crun through a one-shot zygote (then
    it does not seal itself first)."""
    return os.environ.get(ONE_SHOT_ENV) != "0" and files() is not None


def _cstr(value: Any) -> Optional[bytes]:
    from lxcri.backends.crun.binding import ffi

    return None if value == ffi.NULL else ffi.string(value)


_PASS_THROUGH = 64


def request(op: Any, cwd: Optional[str], log: Optional[str], log_format: str,
            verbosity: int, config: Optional[str], pass_through: bool) -> bytes:
    """struct lxcri_zreq and its strings for the libcrun operation `op` (a struct lxcri_op
    whose context the backend filled in); pass_through: libcrun's messages also go to
    the caller's stderr as they come (else only the record brings them)."""
    from lxcri.backends.crun.binding import ffi, lib

    ctx = op.context
    flags = _PASS_THROUGH if pass_through else 0
    for name, bit in _FLAGS.items():
        if name == "no_subreaper" and not lib.LXCRI_HAS_CONTEXT_NO_SUBREAPER:
            continue
        if getattr(ctx, name):
            flags |= bit
    arg = None if op.arg == ffi.NULL else ffi.buffer(op.arg, op.arg_len)[:]
    strings = [_cstr(ctx.state_root), _cstr(op.id), _cstr(ctx.bundle), _cstr(ctx.console_socket),
               _cstr(ctx.pid_file), _cstr(ctx.notify_socket),
               None if config is None else config.encode(), arg,
               None if cwd is None else cwd.encode(), None if log is None else log.encode(),
               None if log_format == "text" else log_format.encode()]
    head = REQUEST.pack(MAGIC, op.kind, op.flag, verbosity, ctx.preserve_fds, ctx.listen_fds,
                        flags, *(_NULL if v is None else len(v) for v in strings))
    return head + b"".join(v for v in strings if v)


def read_exact(fd: int, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = os.read(fd, n - len(buf))
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
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


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
        os.set_inheritable(exe, True)
        os.set_inheritable(theirs.fileno(), True)
        argv = ["lxcri-zygote", str(theirs.fileno()), str(exe), library]
        pid = os.posix_spawn(f"/proc/self/fd/{exe}", argv + (["one-shot"] if one_shot else []),
                             os.environ, setsigmask=(),
                             setsigdef=(_signal.SIGPIPE, _signal.SIGXFSZ))
    except BaseException:
        ours.close()
        raise
    finally:
        theirs.close()
        if exe >= 0:
            os.close(exe)
    return pid, ours.detach()


class OneShot:
    """The crun backend's forker in the CLI (CrunBackend.forker): each operation in a
    one-shot zygote, a child of this process. libcrun's messages come back with the
    result, for the backend to show what its error does not say (with --debug they
    also show as they come, as crun shows them)."""

    def __init__(self) -> None:
        from lxcri.backends.crun import binding

        self.pass_through = binding.passes_through()

    def call(self, op: Any, cwd: Optional[str], log: Optional[str], log_format: str,
             verbosity: int, config: Optional[str] = None) -> Tuple[int, int, str, str]:
        import _signal
        import _socket

        message = request(op, cwd, log, log_format, verbosity, config, self.pass_through)
        # Every signal but SIGCHLD is relayed to the zygote, which libcrun then passes on
        # to the container (as crun does in the foreground).
        relayed = _signal.valid_signals() - {_signal.SIGKILL, _signal.SIGSTOP}
        r, w = os.pipe2(os.O_CLOEXEC)
        old = _signal.pthread_sigmask(_signal.SIG_BLOCK, relayed)
        try:
            pid, fd = spawn(one_shot=True)
            fds = [w, 0, 1, 2, *range(3, 3 + int(op.context.preserve_fds))]
            ours = _socket.socket(fileno=fd)
            try:
                ours.sendmsg([message], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS,
                                          struct.pack(f"{len(fds)}i", *fds))])
            except OSError as exc:
                os.kill(pid, _signal.SIGKILL)
                os.waitpid(pid, 0)
                raise HelperError(f"cannot reach the lxcri zygote process: {exc}") from None
            finally:
                ours.close()
                os.close(w)
                w = -1
            status = _wait_relaying(pid, relayed, _signal.SIGCHLD, _signal.sigtimedwait)
        finally:
            _signal.pthread_sigmask(_signal.SIG_SETMASK, old)
            if w >= 0:
                os.close(w)
        from lxcri.backends.crun.binding import lib

        try:
            result = read_result(r)
        except HelperError:
            raise HelperError(f"the lxcri operation process died ({describe(status)})") from None
        finally:
            os.close(r)
        if result[1] == lib.LXCRI_OP_DIED:
            raise HelperError(result[2])
        return result

    def watch(self, pid: int) -> Optional[Callable[[], int]]:
        return None  # the caller waits for the init itself


def _wait_relaying(pid: int, relayed: Any, sigchld: int, sigtimedwait: Callable[..., Any]) -> int:
    """Wait for the zygote `pid` to exit, passing it every signal in `relayed` (blocked
    here) that arrives meanwhile; its wait status."""
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return status
        info = sigtimedwait(relayed, 0.05)
        if info is not None and info.si_signo != sigchld:
            try:
                os.kill(pid, info.si_signo)
            except ProcessLookupError:
                pass
