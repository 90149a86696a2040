"""The embedded libcrun backend: the only module that touches the compiled lxcri._crun.

It calls libcrun in the current process. Short-lived processes (the CLI) use it
directly; long-lived ones go through lxcri.isolation, which runs each operation
in a forked child of a sealed helper, because libcrun changes process-wide
state (signal mask, subreaper flag, session keyring, cwd, children reaped by
waitpid(-1)) and is not thread-safe.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri import sealed
from lxcri._version import __version__
from lxcri.errors import (
    BackendUnavailable,
    CgroupError,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidBundle,
    InvalidConfig,
    LxcriError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing, json and signal stay out of the CLI's start-up path
    from typing import Any, Callable, Dict, Iterator, List, Optional

_dlopen_flags = sys.getdlopenflags()
# Lazy binding: resolving every symbol of libcrun, libsystemd, libgcrypt, ... up
# front costs milliseconds that a `state` call never uses.
sys.setdlopenflags(os.RTLD_LAZY | (_dlopen_flags & ~os.RTLD_NOW))
try:
    from lxcri._crun import ffi, lib
except ImportError as exc:  # built without libcrun, or libcrun.so.0 missing beside it
    raise BackendUnavailable(f"the embedded crun backend cannot load: {exc}") from None
finally:
    sys.setdlopenflags(_dlopen_flags)

_built_for = ffi.string(lib.lxcri_module_version()).decode()
if _built_for != __version__:
    raise BackendUnavailable(
        f"lxcri._crun was built for lxcri {_built_for} but this is lxcri {__version__}: "
        "reinstall lxcri")

HYBRID_CGROUP_HINT = (
    "this host mounts cgroup v1 and v2 side by side with controllers enabled on v2, "
    "which libcrun refuses; move them off v2, e.g. for hugetlb: "
    "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb "
    "(Proxmox VE 7+ uses pure cgroup v2 and is not affected)")

_process_setup_done = False
_handler_manager: Any = ffi.NULL


def prepare_process(debug: bool = False) -> None:
    """Once per process: libcrun's logging and handler registry are process globals."""
    global _process_setup_done, _handler_manager
    lib.libcrun_set_verbosity(1 if debug else 0)  # LIBCRUN_VERBOSITY_WARNING : _ERROR
    if _process_setup_done:
        return
    err = ffi.new("libcrun_error_t *")
    handler = ffi.new("crun_output_handler *")
    handler_arg = ffi.new("void **")
    _check(lib.libcrun_init_logging(handler, handler_arg, ffi.NULL, ffi.NULL, err), err)
    _handler_manager = lib.libcrun_handler_manager_create(err)
    if _handler_manager == ffi.NULL:
        _check(-1, err)
    _process_setup_done = True


def _check(ret: int, err: Any, what: str = "", container_id: Optional[str] = None) -> int:
    """Turn libcrun's (ret, err) into a return value or an LxcriError; always frees err."""
    if ret >= 0:
        return ret
    status, msg = 0, "unknown libcrun error"
    if err[0] != ffi.NULL:
        status = err[0].status
        if err[0].msg != ffi.NULL:
            msg = ffi.string(err[0].msg).decode("utf-8", "replace")
        lib.libcrun_error_release(err)
    if status:
        msg = f"{msg}: {os.strerror(status)}"
    raise _classify(msg, status, what, container_id)


def _classify(msg: str, status: int, what: str, container_id: Optional[str]) -> LxcriError:
    text = f"{what}: {msg}" if what else msg
    kw: Dict[str, Any] = {"errno": status or None, "container_id": container_id}
    if "hybrid mode not supported" in msg:
        return CgroupError(f"{text}; {HYBRID_CGROUP_HINT}", **kw)
    if "already exists" in msg and status in (0, errno_mod.EEXIST):
        return ContainerExists(text, **kw)
    if msg.startswith("executable file") or "exec container process" in msg:
        return InvalidBundle(f"{text}; check process.args[0] in the bundle's config.json "
                             "(and PATH in process.env)", **kw)
    return LxcriError(text, **kw)


class _SavedProcessState:
    """Restores what libcrun leaves changed in the calling process (signal mask, cwd)."""

    def __enter__(self) -> "_SavedProcessState":
        self.mask = ffi.new("sigset_t *")
        lib.lxcri_sigmask_save(self.mask)
        self.cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self

    def __exit__(self, *exc: object) -> None:
        lib.lxcri_sigmask_restore(self.mask)
        try:
            os.fchdir(self.cwd)
        finally:
            os.close(self.cwd)


class CrunBackend:
    """Containers run by the embedded libcrun, state kept under `root`."""

    name = "crun"

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.debug = debug
        self.systemd_cgroup = systemd_cgroup
        self.force_no_cgroup = force_no_cgroup
        prepare_process(debug)

    # -- helpers ---------------------------------------------------------------------------

    def _context(self, id: str, keep: List[Any], *, bundle: Optional[str] = None,
                 pid_file: Optional[str] = None, detach: bool = False) -> Any:
        ctx = ffi.new("libcrun_context_t *")

        def cstr(value: Optional[str]) -> Any:
            if value is None:
                return ffi.NULL
            buf = ffi.new("char[]", value.encode())
            keep.append(buf)  # the context only borrows the pointers
            return buf

        ctx.state_root = cstr(self.root)
        ctx.id = cstr(id)
        ctx.bundle = cstr(bundle)
        ctx.pid_file = cstr(pid_file)
        ctx.notify_socket = cstr(os.environ.get("NOTIFY_SOCKET"))
        ctx.fifo_exec_wait_fd = -1  # a zeroed struct would mean stdin
        ctx.systemd_cgroup = self.systemd_cgroup
        ctx.force_no_cgroup = self.force_no_cgroup
        ctx.detach = detach
        ctx.handler_manager = _handler_manager
        return ctx

    def _status_dir(self, id: str) -> str:
        return os.path.join(self.root, id)

    def _require(self, id: str) -> None:
        if not os.path.isfile(os.path.join(self._status_dir(id), "status")):
            raise ContainerNotFound(
                f"container `{id}` does not exist under {self.root}: "
                "`lxcri list` shows the containers there", errno=errno_mod.ENOENT, container_id=id)

    def _call(self, what: str, id: Optional[str], fn: Callable[[Any], int]) -> int:
        err = ffi.new("libcrun_error_t *")
        with _SavedProcessState():
            ret = fn(err)
        return _check(ret, err, what, id)

    def _load(self, config_path: str, bundle: str) -> Any:
        err = ffi.new("libcrun_error_t *")
        container = lib.libcrun_container_load_from_file(config_path.encode(), err)
        if container == ffi.NULL:
            try:
                _check(-1, err)
            except LxcriError as exc:
                # lxcri.runtime looks closer at the bundle when this surfaces.
                raise InvalidConfig(f"{config_path}: {exc.message}", errno=exc.errno) from None
        container = ffi.gc(container, lib.libcrun_container_free)
        problem = lib.lxcri_container_problem(container)
        if problem != ffi.NULL:
            raise InvalidConfig(f"{config_path}: {ffi.string(problem).decode()}")
        return container

    def _start_process(self, id: str, bundle: str, config_path: str, what: str,
                       call: Callable[[Any, Any, Any], int], *, pid_file: Optional[str],
                       detach: bool) -> int:
        if not sealed.is_sealed():
            # The container's first process is a copy of this one: without a sealed
            # executable, the container could overwrite the host's Python.
            raise LxcriError(
                f"refusing to {what} container `{id}` from an unsealed interpreter: "
                "use lxcri.Runtime (isolated) or the lxcri command", container_id=id)
        if os.path.exists(self._status_dir(id)):
            raise ContainerExists(
                f"container `{id}` already exists under {self.root}: pick another id, "
                "or `lxcri delete` the old one", errno=errno_mod.EEXIST, container_id=id)
        container = self._load(config_path, bundle)
        keep: List[Any] = []
        ctx = self._context(id, keep, bundle=bundle, pid_file=pid_file, detach=detach)
        sys.stdout.flush()  # the container writes straight to fd 1 and 2
        sys.stderr.flush()
        err = ffi.new("libcrun_error_t *")
        with _SavedProcessState():
            os.chdir(bundle)  # libcrun resolves root.path and records the bundle from the cwd
            ret = call(ctx, container, err)
        return _check(ret, err, f"cannot {what} container `{id}`", id)

    # -- operations ------------------------------------------------------------------------

    def run(self, id: str, bundle: str, config_path: str, *, pid_file: Optional[str] = None,
            detach: bool = False) -> int:
        return self._start_process(
            id, bundle, config_path, "run",
            lambda ctx, c, err: lib.libcrun_container_run(ctx, c, 0, err),
            pid_file=pid_file, detach=detach)

    def create(self, id: str, bundle: str, config_path: str, *,
               pid_file: Optional[str] = None) -> None:
        self._start_process(
            id, bundle, config_path, "create",
            lambda ctx, c, err: lib.libcrun_container_create(ctx, c, 0, err),
            pid_file=pid_file, detach=True)

    def _status(self, id: str) -> str:
        import json

        return str(json.loads(self.state_json(id))["status"])

    def start(self, id: str) -> None:
        self._require(id)
        keep: List[Any] = []
        ctx = self._context(id, keep)
        try:
            self._call(f"cannot start container `{id}`", id,
                       lambda err: lib.libcrun_container_start(ctx, id.encode(), err))
        except LxcriError:
            status = self._status(id)  # explain the usual cause in the user's terms
            if status != "created":
                raise ContainerStateError(
                    f"cannot start container `{id}`: it is {status}, and only a created "
                    "container can be started", container_id=id) from None
            raise

    def state_json(self, id: str) -> str:
        self._require(id)
        keep: List[Any] = []
        ctx = self._context(id, keep)
        out = ffi.new("char **")
        try:
            self._call(f"cannot read the state of container `{id}`", id,
                       lambda err: lib.lxcri_container_state_json(ctx, id.encode(), out, err))
            return ffi.string(out[0]).decode() if out[0] != ffi.NULL else ""
        finally:
            lib.lxcri_free(out[0])

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:
        self._require(id)
        keep: List[Any] = []
        ctx = self._context(id, keep)
        fn = lib.libcrun_container_killall if all else lib.libcrun_container_kill
        self._call(f"cannot send signal {signal} to container `{id}`", id,
                   lambda err: fn(ctx, id.encode(), str(signal).encode(), err))

    def delete(self, id: str, *, force: bool = False) -> None:
        self._require(id)
        keep: List[Any] = []
        ctx = self._context(id, keep)
        try:
            self._call(f"cannot delete container `{id}`", id,
                       lambda err: lib.libcrun_container_delete(ctx, ffi.NULL, id.encode(),
                                                                force, err))
        except LxcriError:
            status = self._status(id) if not force else ""
            if status in ("running", "paused"):
                raise ContainerStateError(
                    f"cannot delete container `{id}`: it is {status}; stop it first "
                    f"(`lxcri kill {id} KILL`) or use `delete --force`", container_id=id) from None
            raise

    def list(self) -> List[Dict[str, Any]]:
        import json

        states = []
        for id in self._ids():
            try:
                states.append(json.loads(self.state_json(id)))
            except (ContainerNotFound, ValueError):
                continue  # deleted meanwhile, or a half-written status
        return states

    def _ids(self) -> Iterator[str]:
        if not os.path.isdir(self.root):
            return iter(())
        lst = ffi.new("libcrun_container_list_t **")
        self._call(f"cannot list containers under {self.root}", None,
                   lambda err: lib.libcrun_get_containers_list(lst, self.root.encode(), err))
        ids = []
        node = lst[0]
        while node != ffi.NULL:
            ids.append(ffi.string(node.name).decode())
            node = node.next
        lib.libcrun_free_containers_list(lst[0])
        return iter(sorted(ids))


def spec_json(rootless: bool = False) -> str:
    """libcrun's default config.json for a new bundle."""
    err = ffi.new("libcrun_error_t *")
    out = ffi.new("char **")
    try:
        _check(lib.lxcri_spec_json(rootless, out, err), err, "cannot generate a spec")
        return ffi.string(out[0]).decode()
    finally:
        lib.lxcri_free(out[0])


def version_info() -> Dict[str, Any]:
    """libcrun's version, the OCI spec version it writes, and its build features."""
    import json

    spec = json.loads(spec_json()).get("ociVersion", "")
    flags = [("SYSTEMD", lib.LXCRI_HAVE_SYSTEMD), ("CAP", lib.LXCRI_HAVE_CAP),
             ("SECCOMP", lib.LXCRI_HAVE_SECCOMP), ("EBPF", lib.LXCRI_HAVE_EBPF),
             ("CRIU", lib.LXCRI_HAVE_CRIU), ("YAJL", lib.LXCRI_HAVE_YAJL)]
    return {"libcrun": ffi.string(lib.lxcri_libcrun_version()).decode(), "spec": spec,
            "features": [f"+{name}" for name, on in flags if on]}


def set_child_subreaper(on: bool) -> None:
    if lib.lxcri_set_child_subreaper(1 if on else 0) < 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno))


def is_child_subreaper() -> bool:
    return lib.lxcri_get_child_subreaper() == 1
