"""Protection against CVE-2019-5736-class attacks for a runtime written in Python.

A process that enters a container (the container's init before it execs the
user's program, an exec'd process before its exec) is a copy of the runtime
process, and /proc/<pid>/exe of it points at the runtime's binary. A hostile
container can open that link and, once the runtime exits, overwrite the binary
on the host. For lxcri that binary is the host's Python interpreter.

crun guards against it by re-executing itself from a sealed memfd copy when
libcrun is loaded. lxcri's build disarms that load-time re-exec (it would
restart any Python program that imports lxcri) and applies the same guard here,
only where a process enters a container:
- the CLI seals itself before create/run/exec (`seal`): it replaces
  /proc/self/exe in place by a sealed copy (`seal_in_place`, in C:
  include/lxcri_seal.h), and only where that cannot be done (no lxcri._crun, no
  CAP_SYS_ADMIN, a kernel without CONFIG_CHECKPOINT_RESTORE, another thread)
  re-executes itself from a sealed copy (`reexec_if_needed`);
- the library runs those operations in a helper process started from a sealed
  copy (lxcri.isolation), created once per process and reused.
The crun backend refuses to start a container from an unsealed process.
"""
from __future__ import annotations

import _thread
import errno
import fcntl
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# The four seals that make a memfd immutable; the same test crun applies. They are
# tested as a mask: a copy made by runc also has F_SEAL_EXEC.
_SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE
_PATH_ENV = "_LXCRI_SEALED_PATH"

_lock = _thread.allocate_lock()  # not threading: this module is on the CLI's start-up path
_sealed_fd: Optional[int] = None


def is_sealed() -> bool:
    """True when a container could not write this process's executable.

    That is: /proc/self/exe is a fully sealed memfd, or a file on a read-only
    mount (the two cases crun accepts too). An admin who installs the
    interpreter lxcri runs on a read-only mount spares every create/run/exec
    the re-exec.
    """
    try:
        fd = posix.open("/proc/self/exe", posix.O_RDONLY | posix.O_CLOEXEC)
    except OSError:
        return False
    try:
        try:
            return fcntl.fcntl(fd, fcntl.F_GET_SEALS) & _SEALS == _SEALS
        except OSError:  # not a memfd
            return bool(posix.fstatvfs(fd).f_flag & posix.ST_RDONLY)
    finally:
        posix.close(fd)


def sealed_executable_fd() -> int:
    """A sealed memfd holding a copy of this process's executable (close-on-exec).

    Made once per process and reused: once sealed it can never change, so
    sharing it between helpers is safe.
    """
    global _sealed_fd
    with _lock:
        if _sealed_fd is None:
            _sealed_fd = _make_sealed_copy()
        return _sealed_fd


# MFD_EXEC (Linux 6.3): an executable memfd even where vm.memfd_noexec = 1 makes
# memfds non-executable by default. posix has no name for it before Python 3.12.
_MFD_EXEC = getattr(posix, "MFD_EXEC", 0x0010)


def _memfd(name: str) -> int:
    flags = posix.MFD_CLOEXEC | posix.MFD_ALLOW_SEALING
    try:
        return posix.memfd_create(name, flags | _MFD_EXEC)
    except OSError as exc:
        if exc.errno != errno.EINVAL:  # EINVAL: a kernel before 6.3, where all are executable
            raise
    return posix.memfd_create(name, flags)


def _make_sealed_copy() -> int:
    return sealed_copy_of("/proc/self/exe", "lxcri")


def sealed_copy_of(path: str, name: str) -> int:
    """A sealed, executable memfd (close-on-exec) holding a copy of the file at `path`."""
    memfd = _memfd(name)
    try:
        src = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        try:
            size = posix.fstat(src).st_size
            sent = 0
            while sent < size:
                n = posix.sendfile(memfd, src, sent, size - sent)
                if n == 0:
                    break
                sent += n
        finally:
            posix.close(src)
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, _SEALS)
    except BaseException:
        posix.close(memfd)
        raise
    return memfd


def sealed_python_argv(code: str, args: list[str]) -> tuple[list[str], dict[str, str]]:
    """argv and environment to run `code` in a sealed copy of this interpreter.

    The copy starts with -I -S (no site, no user environment: about half the
    start-up time) and gets this process's sys.path through the environment, so
    it imports the same lxcri, cffi and typer.
    """
    import os

    env = dict(os.environ)
    env[_PATH_ENV] = os.pathsep.join(p for p in sys.path if p)
    boot = (f"import os,sys;sys.path[:0]=os.environ.pop({_PATH_ENV!r}).split(os.pathsep);"
            + code)
    return [sys.executable or "python3", "-I", "-S", "-c", boot, *args], env


def seal_in_place() -> Optional[str]:
    """Make /proc/self/exe a sealed memfd copy of itself without an exec; None when done, else why not.

    Loads lxcri._crun (libcrun), which create/run/exec load anyway. The process
    must be single-threaded.
    """
    try:
        from lxcri.backends.crun.binding import ffi, lib
    except Exception as exc:  # BackendUnavailable, ImportError: no usable lxcri._crun
        return str(exc)
    what = ffi.new("const char **")
    ret = lib.lxcri_seal_exe_in_place(what)
    if ret != 0:
        return f"{ffi.string(what[0]).decode()}: {posix.strerror(-ret)}"
    if not is_sealed():
        return "/proc/self/exe is still not sealed"
    return None


def refuse_unless_sealed(what: str, id: str) -> None:
    """For a backend about to start a container's process from this one (lxc): seal this
    process in place now unless it is already sealed; refuse when it cannot be."""
    if is_sealed():
        return
    why = seal_in_place()
    if why is not None:
        from lxcri.errors import LxcriError

        raise LxcriError(f"refusing to {what} container `{id}` from an unsealed interpreter "
                         f"({why}): use lxcri.Runtime (isolated) or the lxcri command, or set "
                         "LXCRI_ONE_SHOT=0 so that the command seals itself first",
                         container_id=id)


def seal(debug: bool = False) -> None:
    """Seal this process before it starts a process in a container (may not return).

    In place when it can (`seal_in_place`), else by re-executing from a sealed
    copy (`reexec_if_needed`); why the first did not work is said only with
    --debug.
    """
    if is_sealed():
        return
    why = seal_in_place()
    if why is None:
        return
    if debug:
        sys.stderr.write(f"lxcri: debug: cannot seal the process in place ({why}): "
                         "re-executing from a sealed copy\n")
    reexec_if_needed()


def reexec_if_needed() -> None:
    """Replace this process with the same command run from a sealed interpreter copy.

    Returns only when the process is already sealed. Called by the CLI before
    create/run/exec, before anything is done that should not happen twice.
    """
    if is_sealed():
        return
    from lxcri.host import warmup

    warmup.stop()  # its pid is not passed on: the new interpreter could not end it
    fd = sealed_executable_fd()
    argv, env = sealed_python_argv(
        "from lxcri.__main__ import main;sys.exit(main(sys.argv[1:]))", sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    posix.execve(fd, argv, env)
