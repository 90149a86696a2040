"""The liblxc driver's monitor: the process that runs one container with liblxc.

`create` double-forks it (own session, the caller's stdio, the preserved fds) and
returns once the start-host hook (hooks.py) reports the container's init through
lxcri.ready. The monitor calls liblxc's non-daemonized start, which returns when
the init exits; it then records the exit code in lxcri.exit and reports "exit N"
(or "fail WHY" when liblxc could not start the container) on its status pipe,
which a foreground `run` reads. Only create and run load this module.
"""
from __future__ import annotations

import os

from lxcri.backends.lxc.liblxc.binding import load_binding
from lxcri.backends.lxc.liblxc.driver import _SIGKILL, exit_code_of
from lxcri.backends.monitored import double_fork, write_atomic
from lxcri.backends.monitored import report as _report
from lxcri.errors import LxcriError
from lxcri.host.procfs import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Tuple

    from lxcri.backends.lxc.liblxc.driver import LiblxcDriver


def spawn_monitor(driver: LiblxcDriver, id: str, args: List[str], preserve_fds: int) -> int:
    """Double-fork the monitor; return the read end of its status pipe."""
    import fcntl

    r, w = os.pipe2(os.O_CLOEXEC)
    high = fcntl.fcntl(w, fcntl.F_DUPFD_CLOEXEC, 3 + preserve_fds + 1)
    os.close(w)
    double_fork(lambda: _monitor_main(driver, id, args, high, preserve_fds), [r])
    os.close(high)
    return r


def _monitor_main(driver: LiblxcDriver, id: str, args: List[str], status_w: int,
                  preserve_fds: int) -> None:  # pragma: no cover - runs in the monitor
    """The monitor: run the container with liblxc until it exits, record its exit code."""
    code = 1
    try:
        os.closerange(3 + preserve_fds, status_w)
        os.closerange(status_w + 1, 1 << 16)
        start = driver.host.starttime(os.getpid())
        write_atomic(driver._file(id, "lxcri.monitor"), f"{os.getpid()} {start}\n")
        ffi, lib = load_binding()
        c = lib.lxc_container_new(id.encode(), driver.lxcpath.encode())
        if c == ffi.NULL:
            _report(status_w, "fail liblxc cannot load the container's config")
            os._exit(1)
        c.want_daemonize(c, False)
        c.want_close_all_fds(c, False)
        keep = [ffi.new("char[]", a.encode()) for a in args]
        argv = ffi.new("char *[]", keep + [ffi.NULL])
        ok = c.start(c, 0, argv)
        wait_status = c.error_num
        if ok or not os.path.exists(driver._file(id, "lxcri.ready")):
            # The init existed (the start-host hook reported it): record how it ended.
            if ok:
                exit_code = exit_code_of(wait_status)
            elif os.path.exists(driver._file(id, "lxcri.start")):
                exit_code = 128 + _SIGKILL  # killed while created
            else:
                exit_code = exit_code_of(wait_status) if wait_status > 0 else 255
            write_atomic(driver._file(id, "lxcri.exit"), f"{exit_code}\n")
            _report(status_w, f"exit {exit_code}")
            code = 0
        else:
            err = ffi.string(c.error_string).decode(errors="replace") \
                if c.error_string != ffi.NULL else "liblxc could not start the container"
            _report(status_w, f"fail {err}")
        lib.lxc_container_put(c)
    except BaseException as exc:
        _report(status_w, f"fail {type(exc).__name__}: {exc}")
    finally:
        os._exit(code)


def wait_ready(driver: LiblxcDriver, id: str, ready: int, status_r: int) -> Tuple[int, int]:
    """Block until the start-host hook reports the init's pid, or the monitor fails."""
    import select

    p = select.poll()
    p.register(ready, select.POLLIN)
    p.register(status_r, select.POLLIN | select.POLLHUP)
    buf = b""
    while True:
        try:
            events = p.poll()
        except InterruptedError:
            continue
        for fd, _ev in events:
            if fd == ready:
                try:
                    buf += os.read(ready, 256)
                except BlockingIOError:
                    continue
                if b"\n" in buf:
                    pid, hook_pid = buf.split(b"\n", 1)[0].split()
                    return int(pid), int(hook_pid)
            else:
                msg = os.read(status_r, 65536).decode(errors="replace")
                raise _start_error(driver, id, msg)


def _start_error(driver: LiblxcDriver, id: str, msg: str) -> LxcriError:
    lines = [ln[5:].strip() for ln in msg.splitlines() if ln.startswith("fail ")]
    detail = lines[0] if lines else "the lxcri monitor process ended unexpectedly"
    log_lines = [ln for ln in (read_text(driver._file(id, "lxc.log")) or "").splitlines()
                 if " ERROR " in ln]
    if log_lines:
        detail += "; liblxc: " + log_lines[0].split(" - ", 2)[-1]
    return LxcriError(f"cannot create container `{id}`: {detail}", container_id=id)
