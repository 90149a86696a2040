"""The embedded libcrun backend: CrunBackend, on the binding lxcri.backends.crun.binding.

It calls libcrun in the current process, but for the operations that start a process
in a container (create, run, exec), which run in lxcri's zygote
(lxcri.backends.crun.zygote): from the CLI in a one-shot zygote per command, so that
the container's first process is a copy of that small sealed program and the CLI
needs no seal; from the library in children of its helper's zygote. Long-lived
processes go through lxcri.isolation for every operation, because libcrun changes
process-wide state (signal mask, subreaper flag, session keyring, cwd, children
reaped by waitpid(-1)) and is not thread-safe.

libcrun is loaded on first use, with lxcri.backends.crun.inprocess, which holds the
calls into libcrun in this process: a command whose every libcrun call runs in the
zygote (the CLI's create, run and exec) never loads either, which saves libcrun's 2 ms
and 2.5 MiB and the code's memory. The zygote loads the config itself and says when it
could not (BAD_CONFIG).
"""
from __future__ import annotations

import errno as errno_mod
import posix

from lxcri import posixos
from lxcri.backends.crun import zygote as protocol
from lxcri.backends.crun.messages import Logged, set_debug
from lxcri.errors import (
    ContainerExists,
    ContainerStateError,
    InvalidConfig,
    LxcriError,
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


class CrunBackend:
    """Containers run by the embedded libcrun, state kept under `root`."""

    name = "crun"

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.root = posixos.abspath(root)
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

    def _here(self) -> ModuleType:
        """lxcri.backends.crun.inprocess, for a call into libcrun in this process: libcrun
        loaded, its process globals set up and its verbosity this backend's."""
        from lxcri.backends.crun import binding, inprocess

        binding.prepare_process(self._debug)
        return inprocess

    def _context(self, id: str, process: Any = None, *, detach: bool = False,
                 notify_socket: Optional[str] = None) -> Context:
        """The context of one call; process: the CreateOptions/RunOptions/ExecOptions of
        create, run and exec (None for the other operations), whose notify_socket, if
        any, stands for `notify_socket` (start's)."""
        ctx = protocol.Context(self.root, id)
        ctx.bundle = getattr(process, "bundle", None)
        ctx.pid_file = getattr(process, "pid_file", None)
        ctx.notify_socket = getattr(process, "notify_socket", None) or notify_socket
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
            from lxcri.backends.crun.failures import error

            raise error(status, msg, what, id, call=call, config_path=op.config, root=self.root)
        return int(self._here().op_here(self, op, what))

    @staticmethod
    def _bad_config(config_path: str, status: int, msg: str, call: Logged) -> InvalidConfig:
        """A config.json that libcrun could not load, or that lxcri refuses (the zygote's
        BAD_CONFIG, or _load's)."""
        from lxcri.backends.crun.failures import error

        call.show([msg])
        # yajl's parse errors go on with the text and a caret, on lines of their own
        found = error(status, msg.strip().split("\n", 1)[0].rstrip())
        # lxcri.runtime looks closer at the bundle when this surfaces.
        return InvalidConfig(f"{config_path}: {found.message}", errno=found.errno)

    def _status_dir(self, id: str) -> str:
        return posixos.join(self.root, id)

    def _require(self, id: str) -> None:
        if not posixos.isfile(posixos.join(self._status_dir(id), "status")):
            raise not_found(id, self.root)

    def _first_process(self, id: str, options: CreateOptions, what: str, kind: int, *,
                       detach: bool) -> int:
        """create/run: the container's first process, from a zygote (or this process,
        when it is sealed)."""
        caller = self._entering(what, id)
        if posixos.exists(self._status_dir(id)):
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
        from lxcri.backends.crun import reads

        return reads.ps(self, id)

    def update(self, id: str, resources_json: str) -> None:
        self._require(id)
        self._op(protocol.Operation(protocol.UPDATE, self._context(id),
                                    arg=resources_json.encode()),
                 f"cannot update container `{id}`")

    def _status(self, id: str) -> str:
        from lxcri import jsonlite

        return str(jsonlite.loads(self.state_json(id))["status"])

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        self._require(id)
        try:
            self._op(protocol.Operation(protocol.START,
                                        self._context(id, notify_socket=notify_socket)),
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
        from lxcri.backends.crun import reads

        return reads.state_json(self, id, what)

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002 (OCI's name)
        from lxcri.backends.crun import reads

        reads.kill(self, id, signal, all=all)

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
        from lxcri.backends.crun import reads

        return reads.list_states(self)

    def features(self) -> Dict[str, Any]:
        from lxcri.backends.crun.inprocess import build_features

        return build_features()

    def _ids(self) -> Iterator[str]:
        from lxcri.backends.crun import reads

        return reads.ids(self)


def _wait_exit_code(pid: int) -> int:
    """Wait for a child and return its exit code the way a foreground run reports it."""
    while True:
        try:
            _, status = posix.waitpid(pid, 0)
            break
        except ChildProcessError:  # not our child: poll until it is gone
            import time

            while posixos.exists(f"/proc/{pid}"):
                time.sleep(0.02)
            return 0
    if posix.WIFSIGNALED(status):
        return 128 + posix.WTERMSIG(status)
    return posix.WEXITSTATUS(status)


