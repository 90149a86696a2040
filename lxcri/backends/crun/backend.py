"""The embedded libcrun backend: CrunBackend, on the binding lxcri.backends.crun.binding.

It calls libcrun in the current process, but for the operations that start a process
in a container (create, run, exec), which run in lxcri's zygote
(lxcri.backends.crun.zygote): from the CLI in a one-shot zygote per command, so that
the container's first process is a copy of that small sealed program and the CLI
needs no seal; from the library in children of its helper's zygote. Long-lived
processes go through lxcri.isolation for every operation, because libcrun changes
process-wide state (signal mask, subreaper flag, session keyring, cwd, children
reaped by waitpid(-1)) and is not thread-safe.

libcrun is loaded on first use (_binding()), not on import: a command whose every
libcrun call runs in the zygote (the CLI's create, run and exec) never loads it, which
saves its 2 ms and 2.5 MiB. The zygote loads the config itself and says when it could
not (BAD_CONFIG).
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri.backends.crun import zygote as protocol
from lxcri.backends.crun.messages import Logged, error, set_debug
from lxcri.errors import (
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidConfig,
    LxcriError,
    StateCorrupt,
    not_found,
)

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing, json and signal stay out of the CLI's start-up path
    from types import ModuleType
    from typing import Any, Callable, Dict, Iterator, List, Optional, Protocol, Tuple

    from lxcri.backends.crun.zygote import Context, Operation
    from lxcri.options import CreateOptions, ExecOptions, RunOptions

    class Caller(Protocol):
        """Performs an operation in another process (a zygote's)."""

        pass_through: bool  # libcrun's messages reached the caller's stderr as they came

        def call(self, op: Operation, log: Optional[str], log_format: str,
                 debug: bool) -> Tuple[int, int, str, str]: ...

    class Forker(Caller, Protocol):
        """The library helper's Caller, which also keeps the exit status of the inits
        that become its children."""

        def watch(self, pid: int) -> Callable[[], int]: ...


class _SavedProcessState:
    """Restores what libcrun leaves changed in the calling process (signal mask, cwd)."""

    def __init__(self, binding: ModuleType) -> None:
        self.ffi, self.lib = binding.ffi, binding.lib

    def __enter__(self) -> "_SavedProcessState":
        self.mask = self.ffi.new("sigset_t *")
        self.lib.lxcri_sigmask_save(self.mask)
        self.cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return self

    def __exit__(self, *exc: object) -> None:
        self.lib.lxcri_sigmask_restore(self.mask)
        try:
            os.fchdir(self.cwd)
        finally:
            os.close(self.cwd)


def _binding() -> ModuleType:
    """lxcri.backends.crun.binding: libcrun, loaded here on first use."""
    from lxcri.backends.crun import binding

    return binding


class CrunBackend:
    """Containers run by the embedded libcrun, state kept under `root`."""

    name = "crun"

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.root = os.path.abspath(root)
        self.debug = debug
        self.systemd_cgroup = systemd_cgroup
        self.force_no_cgroup = force_no_cgroup
        self._debug = debug or log_level == "debug"  # libcrun says what crun --debug says
        set_debug(self._debug)
        self._log, self._log_format = log, log_format
        self._log_handler: Any = None  # (handler, arg), made on first use in this process
        # Set by the library's helper (lxcri.isolation): performs the operations that
        # change process state in a forked child that runs no Python.
        self.forker: Optional[Forker] = None
        # Set by the library's Runtime for a create, run or exec it hands to the helper's
        # zygote itself (calling(); lxcri.isolation.Helper.direct).
        self.caller: Optional[Caller] = None

    def calling(self, caller: Caller) -> "CrunBackend":
        """A copy of this backend whose create, run and exec go to `caller` (for one
        call: the caller holds that call's fds)."""
        copy = object.__new__(CrunBackend)
        copy.__dict__.update(self.__dict__)
        copy.caller = caller
        return copy

    # -- helpers ---------------------------------------------------------------------------

    def _lib(self) -> ModuleType:
        """The binding, with libcrun's process globals set up and its verbosity this
        backend's (for a call in this process)."""
        binding = _binding()
        binding.prepare_process(self._debug)
        return binding

    def _context(self, id: str, process: Any = None, *, detach: bool = False) -> Context:
        """The context of one call; process: the CreateOptions/RunOptions/ExecOptions of
        create, run and exec (None for the other operations)."""
        ctx = protocol.Context(self.root, id)
        ctx.bundle = getattr(process, "bundle", None)
        ctx.pid_file = getattr(process, "pid_file", None)
        ctx.notify_socket = os.environ.get("NOTIFY_SOCKET")
        ctx.systemd_cgroup = self.systemd_cgroup
        ctx.force_no_cgroup = self.force_no_cgroup
        ctx.detach = detach
        if process is not None:
            ctx.console_socket = process.console_socket
            # As crun: LISTEN_FDS are preserved too.
            ctx.preserve_fds = int(process.preserve_fds + process.listen_fds)
            ctx.listen_fds = int(process.listen_fds)
            ctx.no_pivot = bool(getattr(process, "no_pivot", False))
            ctx.no_new_keyring = bool(getattr(process, "no_new_keyring", False))
            ctx.no_subreaper = bool(getattr(process, "no_subreaper", False))
        return ctx

    def _libcrun_context(self, binding: ModuleType, ctx: Context, keep: List[Any]) -> Any:
        """libcrun's libcrun_context_t for ctx, for a call in this process (keep holds
        the strings it borrows)."""
        ffi, lib = binding.ffi, binding.lib
        c = ffi.new("libcrun_context_t *")

        def cstr(value: Optional[str]) -> Any:
            return ffi.NULL if value is None else _keep(keep, binding, value.encode())

        c.state_root = cstr(ctx.state_root)
        c.id = cstr(ctx.id)
        c.bundle = cstr(ctx.bundle)
        c.pid_file = cstr(ctx.pid_file)
        c.notify_socket = cstr(ctx.notify_socket)
        c.console_socket = cstr(ctx.console_socket)
        c.fifo_exec_wait_fd = -1  # a zeroed struct would mean stdin
        c.systemd_cgroup = ctx.systemd_cgroup
        c.force_no_cgroup = ctx.force_no_cgroup
        c.detach = ctx.detach
        c.preserve_fds = ctx.preserve_fds
        c.listen_fds = ctx.listen_fds
        c.no_pivot = ctx.no_pivot
        c.no_new_keyring = ctx.no_new_keyring
        if lib.LXCRI_HAS_CONTEXT_NO_SUBREAPER:  # 1.8.1; gone in 1.21, no libcrun reads it
            c.no_subreaper = ctx.no_subreaper
        c.handler_manager = binding.handler_manager()
        if self._log is not None:
            if self._log_handler is None:
                self._log_handler = _init_log(binding, self._log, self._log_format)
            c.output_handler, c.output_handler_arg = self._log_handler
        keep.append(c)
        return c

    def _entering(self, what: str, id: str) -> Optional[Caller]:
        """Who performs an operation that starts a process in the container (create,
        run, exec): the helper's forker; else, from an unsealed process, a one-shot
        zygote (whose sealed copy is what the container's first process is); None when
        this process is sealed and calls libcrun itself. Refuses when none of them can."""
        if self.forker is not None:
            return self.forker
        if self.caller is not None:
            return self.caller
        from lxcri import sealed

        if sealed.is_sealed():
            return None
        if protocol.one_shot_usable():
            return protocol.OneShot()
        # The container's first process would be a copy of this one: without a sealed
        # executable, the container could overwrite the host's Python.
        raise LxcriError(
            f"refusing to {what} container `{id}` from an unsealed interpreter: "
            "use lxcri.Runtime (isolated) or the lxcri command", container_id=id)

    def _op(self, op: Operation, what: str, *, caller: Optional[Caller] = None) -> int:
        """One libcrun operation that changes process state: through `caller` (or the
        helper's forker) in a process of its own, else here (lxcri_op_call)."""
        id = op.context.id
        caller = caller or self.forker
        if caller is not None:
            ret, status, msg, logged = caller.call(op, self._log, self._log_format,
                                                   self._debug)
            call = Logged(logged, caller.pass_through)
            if ret >= 0:
                call.show()
                return ret
            if ret == protocol.BAD_CONFIG:
                raise self._bad_config(op.config or "config.json", status, msg, call)
            raise error(status, msg, what, id, call=call, config_path=op.config, root=self.root)
        binding = self._lib()
        ffi, lib = binding.ffi, binding.lib
        keep: List[Any] = []
        c = ffi.new("struct lxcri_op *")
        c.kind = op.kind
        c.context = self._libcrun_context(binding, op.context, keep)
        c.id = _keep(keep, binding, id.encode())
        container = None if op.config is None else self._load(binding, op.config)
        if container is not None:
            c.container = container  # kept alive by `container` until the call is done
        if op.arg is not None:
            c.arg = _keep(keep, binding, op.arg)
            c.arg_len = len(op.arg)
        c.flag = op.flag
        sys.stdout.flush()  # the container writes straight to fd 1 and 2
        sys.stderr.flush()
        err = ffi.new("libcrun_error_t *")
        with _SavedProcessState(binding), binding.LibcrunCall() as libcrun_call:
            if op.cwd is not None:
                os.chdir(op.cwd)  # libcrun resolves root.path and records the bundle from the cwd
            ret = lib.lxcri_op_call(c, err)
        return int(binding.check(ret, err, what, id, call=libcrun_call, config_path=op.config,
                                 root=self.root))

    @staticmethod
    def _bad_config(config_path: str, status: int, msg: str, call: Logged) -> InvalidConfig:
        """A config.json that libcrun could not load, or that lxcri refuses (the zygote's
        BAD_CONFIG, or _load's)."""
        call.show([msg])
        # yajl's parse errors go on with the text and a caret, on lines of their own
        found = error(status, msg.strip().split("\n", 1)[0].rstrip())
        # lxcri.runtime looks closer at the bundle when this surfaces.
        return InvalidConfig(f"{config_path}: {found.message}", errno=found.errno)

    def _status_dir(self, id: str) -> str:
        return os.path.join(self.root, id)

    def _require(self, id: str) -> None:
        if not os.path.isfile(os.path.join(self._status_dir(id), "status")):
            raise not_found(id, self.root)

    def _libcrun(self, binding: ModuleType, what: str, id: Optional[str],
                 fn: Callable[[Any], int]) -> int:
        """Call libcrun (fn gets the error struct), with the process state it changes
        saved and restored, and its error raised as lxcri's: StateCorrupt when the
        container's state files are the cause."""
        err = binding.ffi.new("libcrun_error_t *")
        with _SavedProcessState(binding), binding.LibcrunCall() as call:
            ret = fn(err)
        try:
            return int(binding.check(ret, err, what, id, call=call, root=self.root))
        except LxcriError:
            problem = self._state_problem(id) if id is not None else None
            if problem is None:
                raise
            raise StateCorrupt(f"{what}: {problem}; `lxcri delete --force {id}` kills its "
                               "processes and removes it", container_id=id) from None

    # What libcrun's status reader requires (status.c); a file without one of them is
    # one libcrun cannot use.
    _STATUS_KEYS = ("pid", "cgroup-path", "rootfs", "bundle", "created")

    def _state_problem(self, id: str) -> Optional[str]:
        """Why the state files libcrun keeps for `id` cannot be read (its status, and the
        copy of config.json that delete reads), or None. Only asked once libcrun failed."""
        from lxcri.state import file_problem

        directory = self._status_dir(id)
        return (file_problem(os.path.join(directory, "status"), self._STATUS_KEYS)
                or file_problem(os.path.join(directory, "config.json"), ()))

    def _load(self, binding: ModuleType, config_path: str) -> Any:
        """libcrun's container for config_path, in this process (a zygote loads its own)."""
        ffi, lib = binding.ffi, binding.lib
        err = ffi.new("libcrun_error_t *")
        with binding.LibcrunCall() as call:
            container = lib.libcrun_container_load_from_file(config_path.encode(), err)
        if container == ffi.NULL:
            status, msg = binding.take_error(err)
            raise self._bad_config(config_path, status, msg, call)
        container = ffi.gc(container, lib.libcrun_container_free)
        problem = lib.lxcri_container_problem(container)
        if problem != ffi.NULL:
            raise self._bad_config(config_path, 0, ffi.string(problem).decode(), call)
        return container

    def _first_process(self, id: str, options: CreateOptions, what: str, kind: int, *,
                       detach: bool) -> int:
        """create/run: the container's first process, from a zygote (or this process,
        when it is sealed)."""
        caller = self._entering(what, id)
        if os.path.exists(self._status_dir(id)):
            raise ContainerExists(
                f"container `{id}` already exists under {self.root}: pick another id, "
                "or `lxcri delete` the old one", errno=errno_mod.EEXIST, container_id=id)
        bundle = str(options.bundle)
        op = protocol.Operation(kind, self._context(id, options, detach=detach),
                                config=str(options.config), cwd=bundle)
        return self._op(op, f"cannot {what} container `{id}`", caller=caller)

    # -- operations ------------------------------------------------------------------------

    def run(self, id: str, options: RunOptions) -> int:
        if options.keep and not options.detach:
            # libcrun deletes a foreground container once it exits; --keep leaves it
            # stopped for inspection: create, start and wait for it here instead.
            if self.caller is not None:  # the Runtime sends these through its helper
                raise LxcriError(f"cannot run container `{id}` with keep here: the "
                                 "helper waits for it", container_id=id)
            if self.forker is None:
                # Its init is the child of a process that exits (a one-shot zygote):
                # as a subreaper, this one gets it, to wait for.
                from lxcri.host import prctl

                prctl.set_child_subreaper(True)
            self.create(id, options)
            pid = self._pid(id)
            # In the library's helper the init becomes the helper's child once the
            # process that created it exits: the forker keeps its status from now on.
            wait = self.forker.watch(pid) if self.forker is not None else None  # the helper's
            self.start(id)
            return wait() if wait is not None else _wait_exit_code(pid)
        return self._first_process(id, options, "run", protocol.RUN, detach=options.detach)

    def create(self, id: str, options: CreateOptions) -> None:
        self._first_process(id, options, "create", protocol.CREATE, detach=True)

    def _pid(self, id: str) -> int:
        from lxcri import jsonlite

        return int(jsonlite.loads(self.state_json(id))["pid"])

    def exec(self, id: str, options: ExecOptions) -> int:
        """Run the process described by the process.json options.process in the container;
        in the foreground, return its exit code."""
        self._require(id)
        caller = self._entering("exec into", id)
        op = protocol.Operation(protocol.EXEC, self._context(id, options, detach=options.detach),
                                arg=str(options.process).encode())
        return self._op(op, f"cannot exec in container `{id}`", caller=caller)

    def pause(self, id: str) -> None:
        self._simple(id, "pause", protocol.PAUSE)

    def resume(self, id: str) -> None:
        self._simple(id, "resume", protocol.UNPAUSE)

    def _simple(self, id: str, what: str, kind: int) -> None:
        self._require(id)
        self._op(protocol.Operation(kind, self._context(id)), f"cannot {what} container `{id}`")

    def ps(self, id: str) -> List[int]:
        self._require(id)
        binding = self._lib()
        ffi, lib = binding.ffi, binding.lib
        keep: List[Any] = []
        ctx = self._libcrun_context(binding, self._context(id), keep)
        pids = ffi.new("pid_t **")
        self._libcrun(binding, f"cannot list the processes of container `{id}`", id,
                      lambda err: lib.libcrun_container_read_pids(ctx, id.encode(), True, pids,
                                                                  err))
        out: List[int] = []
        if pids[0] != ffi.NULL:
            i = 0
            while pids[0][i] != 0:
                out.append(int(pids[0][i]))
                i += 1
            lib.lxcri_free(pids[0])
        return out

    def update(self, id: str, resources_json: str) -> None:
        self._require(id)
        self._op(protocol.Operation(protocol.UPDATE, self._context(id),
                                    arg=resources_json.encode()),
                 f"cannot update container `{id}`")

    def _status(self, id: str) -> str:
        from lxcri import jsonlite

        return str(jsonlite.loads(self.state_json(id))["status"])

    def start(self, id: str) -> None:
        self._require(id)
        try:
            self._op(protocol.Operation(protocol.START, self._context(id)),
                     f"cannot start container `{id}`")
        except LxcriError:
            status = self._status(id)  # explain the usual cause in the user's terms
            if status != "created":
                raise ContainerStateError(
                    f"cannot start container `{id}`: it is {status}, and only a created "
                    "container can be started", container_id=id) from None
            raise

    def state_json(self, id: str) -> str:
        return self._state_json(id, f"cannot read the state of container `{id}`")

    def _state_json(self, id: str, what: str) -> str:
        self._require(id)
        binding = self._lib()
        ffi, lib = binding.ffi, binding.lib
        keep: List[Any] = []
        ctx = self._libcrun_context(binding, self._context(id), keep)
        out = ffi.new("char **")
        try:
            self._libcrun(binding, what, id,
                          lambda err: lib.lxcri_container_state_json(ctx, id.encode(), out, err))
            return ffi.string(out[0]).decode() if out[0] != ffi.NULL else ""
        finally:
            lib.lxcri_free(out[0])

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002 (OCI's name)
        self._require(id)
        binding = self._lib()
        lib = binding.lib
        keep: List[Any] = []
        ctx = self._libcrun_context(binding, self._context(id), keep)
        fn = lib.libcrun_container_killall if all else lib.libcrun_container_kill
        self._libcrun(binding, f"cannot send signal {signal} to container `{id}`", id,
                      lambda err: fn(ctx, id.encode(), str(signal).encode(), err))

    def delete(self, id: str, *, force: bool = False) -> None:
        self._require(id)
        # libcrun's delete of a container whose status it cannot read removes the state
        # directory, reports success and leaves the processes and cgroups: read the status
        # first (StateCorrupt then, and lxcri.leftovers removes the container instead).
        self._state_json(id, f"cannot delete container `{id}`")
        try:
            self._op(protocol.Operation(protocol.DELETE, self._context(id), flag=int(force)),
                     f"cannot delete container `{id}`")
        except LxcriError:
            status = self._status(id) if not force else ""
            if status in ("running", "paused"):
                raise ContainerStateError(
                    f"cannot delete container `{id}`: it is {status}; stop it first "
                    f"(`lxcri kill {id} KILL`) or use `delete --force`", container_id=id) from None
            raise

    def list(self) -> List[Dict[str, Any]]:
        from lxcri import jsonlite

        states = []
        for id in self._ids():
            try:
                states.append(jsonlite.loads(self.state_json(id)))
            except ContainerNotFound:
                continue  # deleted meanwhile
            except (StateCorrupt, ValueError) as exc:  # one unreadable container: the rest still
                states.append({"ociVersion": "", "id": id, "pid": 0, "status": "corrupt",
                               "bundle": "", "lxcri.problem": str(exc)})
            except LxcriError as exc:
                states.append({"ociVersion": "", "id": id, "pid": 0, "status": "unknown",
                               "bundle": "", "lxcri.problem": str(exc)})
        return states

    def features(self) -> Dict[str, Any]:
        return build_features()

    def _ids(self) -> Iterator[str]:
        if not os.path.isdir(self.root):
            return iter(())
        binding = self._lib()
        ffi, lib = binding.ffi, binding.lib
        lst = ffi.new("libcrun_container_list_t **")
        self._libcrun(binding, f"cannot list containers under {self.root}", None,
                      lambda err: lib.libcrun_get_containers_list(lst, self.root.encode(), err))
        ids = []
        node = lst[0]
        while node != ffi.NULL:
            ids.append(ffi.string(node.name).decode())
            node = node.next
        lib.libcrun_free_containers_list(lst[0])
        return iter(sorted(ids))


def _keep(keep: List[Any], binding: ModuleType, data: bytes) -> Any:
    buf = binding.ffi.new("char[]", data)
    keep.append(buf)  # the struct only borrows the pointer
    return buf


def _init_log(binding: ModuleType, log: str, log_format: str) -> Any:
    """Point libcrun's messages at --log (FILE, file:PATH, syslog:, journald:) in --log-format."""
    ffi, lib, check = binding.ffi, binding.lib, binding.check
    err = ffi.new("libcrun_error_t *")
    handler = ffi.new("crun_output_handler *")
    handler_arg = ffi.new("void **")
    check(lib.libcrun_init_logging(handler, handler_arg, ffi.NULL, log.encode(), err), err,
           f"cannot open the log {log}")
    if log_format != "text":
        check(lib.libcrun_set_log_format(log_format.encode(), err), err,
               f"unknown log format {log_format!r}")
    return handler[0], handler_arg[0]


def _wait_exit_code(pid: int) -> int:
    """Wait for a child and return its exit code the way a foreground run reports it."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except ChildProcessError:  # not our child: poll until it is gone
            import time

            while os.path.exists(f"/proc/{pid}"):
                time.sleep(0.02)
            return 0
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def spec_json(rootless: bool = False) -> str:
    """libcrun's default config.json for a new bundle."""
    binding = _binding()
    ffi, lib, check = binding.ffi, binding.lib, binding.check
    err = ffi.new("libcrun_error_t *")
    out = ffi.new("char **")
    try:
        check(lib.lxcri_spec_json(rootless, out, err), err, "cannot generate a spec")
        return str(ffi.string(out[0]).decode())
    finally:
        lib.lxcri_free(out[0])


def version_info() -> Dict[str, Any]:
    """libcrun's version, the OCI spec version it writes, and its build features."""
    import json

    binding = _binding()
    ffi, lib = binding.ffi, binding.lib
    spec = json.loads(spec_json()).get("ociVersion", "")
    flags = [("SYSTEMD", lib.LXCRI_HAVE_SYSTEMD), ("CAP", lib.LXCRI_HAVE_CAP),
             ("SECCOMP", lib.LXCRI_HAVE_SECCOMP), ("EBPF", lib.LXCRI_HAVE_EBPF),
             ("CRIU", lib.LXCRI_HAVE_CRIU), ("YAJL", lib.LXCRI_HAVE_YAJL)]
    return {"libcrun": ffi.string(lib.lxcri_libcrun_version()).decode(), "spec": spec,
            "features": [f"+{name}" for name, on in flags if on]}


# Capability names in kernel order (capability.h); the host's cap_last_cap bounds the list.
_CAPABILITIES = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
    "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
    "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
    "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
    "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
    "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE")


def build_features() -> Dict[str, Any]:
    """The OCI features document (runtime-spec features.md) for this libcrun build."""
    import json

    from lxcri.host import procfs

    binding = _binding()
    ffi, lib = binding.ffi, binding.lib
    last = procfs.cap_last_cap()
    if last is None:
        last = len(_CAPABILITIES) - 1
    namespaces = ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]
    if lib.LXCRI_HAVE_TIME_NS:
        namespaces.append("time")
    spec_version = json.loads(spec_json()).get("ociVersion", "1.0.0")
    seccomp_enabled = bool(lib.LXCRI_HAVE_SECCOMP)
    doc: Dict[str, Any] = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": spec_version,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer",
                  "poststart", "poststop"],
        "mountOptions": sorted(set(ffi.string(lib.lxcri_mount_options()).decode().split())),
        "linux": {
            "namespaces": namespaces,
            "capabilities": [f"CAP_{n}" for n in _CAPABILITIES[:last + 1]],
            "cgroup": {"v1": True, "v2": True, "systemd": bool(lib.LXCRI_HAVE_SYSTEMD),
                       "systemdUser": bool(lib.LXCRI_HAVE_SYSTEMD), "rdma": True},
            "seccomp": {"enabled": seccomp_enabled},
            "apparmor": {"enabled": True},
            "selinux": {"enabled": True},
        },
        "annotations": {"run.oci.crun.version": ffi.string(lib.lxcri_libcrun_version()).decode()},
    }
    if seccomp_enabled:
        doc["linux"]["seccomp"].update({
            "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                        "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG",
                        "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP"],
            "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE",
                          "SCMP_CMP_LT", "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
        })
        version = ffi.string(lib.lxcri_seccomp_version()).decode()
        if version:
            doc["annotations"]["io.github.seccomp.libseccomp.version"] = version
    return doc
