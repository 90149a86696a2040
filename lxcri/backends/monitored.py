"""What the backends whose containers each have a monitor process share (liblxc, vm).

Such a backend keeps one directory a container under its own state root
(backend_root), with a JSON file of what `state` reports besides status and pid
(bundle, rootfs, created, annotations, owner), and forks a monitor for each container
that reports "exit N" or "fail WHY" on a status pipe. MonitoredBackend holds the
operations that read only those files (state, list, delete's checks, the status checks
of start, kill, pause, resume and exec) and run's wait for the exit; the functions below
are the file, fork and pipe helpers both backends and their monitors use.

Nothing here imports json or time at module level: the CLI pays for every import.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri.errors import (
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    LxcriError,
    not_found,
)
from lxcri.host.procfs import read_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Type

    from lxcri.host.real import Host
    from lxcri.options import RunOptions

OCI_VERSION = "1.0.2"


# --- files ---------------------------------------------------------------------------------

def write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def read_proc(path: str) -> Tuple[int, Optional[str]]:
    """A "pid starttime" file: (pid, its start time), or (0, None) when absent or damaged."""
    text = read_text(path)
    if not text or len(text.split()) != 2:
        return 0, None
    pid, start = text.split()
    return int(pid), start


def new_meta(bundle: str, rootfs: str, annotations: Dict[str, Any]) -> Dict[str, Any]:
    """The state file's common part, stamped now, owned by the caller's euid."""
    import time

    created = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + \
        ".%09dZ" % (time.time_ns() % 1_000_000_000)
    return {"bundle": bundle, "rootfs": rootfs, "created": created, "annotations": annotations,
            "owner": "root" if os.geteuid() == 0 else str(os.geteuid())}


def read_config(config_path: str) -> Dict[str, Any]:
    """The bundle's config.json, or InvalidBundle."""
    import json

    try:
        with open(config_path, "rb") as f:
            config: Dict[str, Any] = json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise InvalidBundle(f"cannot read {config_path}: {exc}") from None
    return config


def read_process(id: str, path: str) -> Dict[str, Any]:
    """An exec's process.json, or InvalidArgument."""
    import json

    try:
        with open(path, "rb") as f:
            process: Dict[str, Any] = json.loads(f.read())
    except (OSError, ValueError) as exc:
        raise InvalidArgument(f"cannot exec in container `{id}`: cannot read {path}: "
                              f"{exc}", container_id=id) from None
    return process


def exec_args(id: str, process: Dict[str, Any], path: str,
              error: Type[InvalidArgument] = InvalidArgument) -> List[str]:
    """process.args of an exec's process.json, or `error` when it is not a non-empty
    array of strings."""
    args = process.get("args")
    if not isinstance(args, list) or not args or not all(isinstance(a, str) for a in args):
        raise error(f"cannot exec in container `{id}`: {path}: args must be a non-empty "
                    "array of strings", container_id=id)
    return args


# --- the monitor's process and its status pipe -------------------------------------------

def double_fork(main: Callable[[], None], close_in_child: Sequence[int]) -> None:
    """Run main() in a grandchild in a session of its own, so that nobody but init waits
    for it; returns once the intermediate child is reaped. main() should end with
    os._exit (a grandchild that returns from it exits 0)."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child processes
        code = 1
        try:
            for fd in close_in_child:
                os.close(fd)
            os.setsid()
            if os.fork() == 0:
                main()
            code = 0
        finally:
            os._exit(code)
    while True:
        try:
            os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break


def report(fd: int, line: str) -> None:  # pragma: no cover - runs in a monitor
    """One line on a monitor's status pipe."""
    try:
        os.write(fd, (line.replace("\n", " ") + "\n").encode())
    except OSError:
        pass  # nobody is listening any more (a detached create): the state files have it


def read_status(fd: int, enough: Optional[Callable[[bytes], bool]] = None) -> bytes:
    """What a status pipe says until EOF, or until enough(what was read) holds."""
    data = b""
    while enough is None or not enough(data):
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    return data


# --- the backend ---------------------------------------------------------------------------

class MonitoredBackend:
    """The operations of a backend with a monitor a container that need only its files.

    A subclass sets `dir` (its state root) and `host`, names its files (_META, _EXIT,
    _LOG) and provides _status, _create (returning the status pipe's read end), start
    and _destroy.
    """

    dir: str
    host: Host
    _META: str  # bundle, rootfs, created, annotations, owner (new_meta) and more
    _EXIT: str  # the exit code, written by the monitor
    _LOG: str   # what a user reads when the monitor fails
    # Whether run reads the status pipe to its end; else it stops at the "exit N" line
    # (a monitor that still has work to do after it, as stopping QEMU).
    _STATUS_TO_EOF = True

    # -- what a subclass provides ---------------------------------------------------------

    def _status(self, id: str) -> Tuple[str, int]:
        """(OCI status, pid)."""
        raise NotImplementedError

    def _create(self, id: str, options: Any) -> int:
        raise NotImplementedError

    def _destroy(self, id: str) -> None:
        raise NotImplementedError

    def start(self, id: str) -> None:
        raise NotImplementedError

    # -- files ----------------------------------------------------------------------------

    def _dir(self, id: str) -> str:
        return os.path.join(self.dir, id)

    def _file(self, id: str, name: str) -> str:
        return os.path.join(self.dir, id, name)

    def _proc(self, id: str, name: str) -> Tuple[int, Optional[str]]:
        return read_proc(self._file(id, name))

    def _meta(self, id: str) -> Dict[str, Any]:
        import json

        text = read_text(self._file(id, self._META))
        if text is None:
            raise not_found(id, self.dir)
        try:
            return dict(json.loads(text))
        except ValueError:
            raise LxcriError(f"container `{id}`: {self._file(id, self._META)} is damaged; "
                             f"`lxcri delete --force {id}` removes it", container_id=id) from None

    def _make_dir(self, id: str) -> str:
        """The container's new directory, or ContainerExists."""
        directory = self._dir(id)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            raise ContainerExists(
                f"container `{id}` already exists under {self.dir}: pick another id, "
                "or `lxcri delete` the old one", errno=errno_mod.EEXIST, container_id=id) from None
        return directory

    # -- status checks --------------------------------------------------------------------

    def _require(self, id: str, what: str, wanted: str) -> int:
        """The pid of a container whose status is `wanted`, or ContainerStateError."""
        self._meta(id)
        status, pid = self._status(id)
        if status != wanted:
            raise ContainerStateError(f"cannot {what} container `{id}`: it is {status}, not "
                                      f"{wanted}", container_id=id)
        return pid

    def _require_created(self, id: str) -> None:
        self._meta(id)
        status, _pid = self._status(id)
        if status != "created":
            raise ContainerStateError(
                f"cannot start container `{id}`: it is {status}, and only a created container "
                "can be started", container_id=id)

    def _require_signalable(self, id: str, signal: int) -> Tuple[str, int]:
        self._meta(id)
        status, pid = self._status(id)
        if status not in ("created", "running", "paused"):
            raise ContainerStateError(f"cannot send signal {signal} to container `{id}`: it is "
                                      f"{status}", container_id=id)
        return status, pid

    # -- state ----------------------------------------------------------------------------

    def state(self, id: str) -> Dict[str, Any]:
        meta = self._meta(id)
        status, pid = self._status(id)
        doc: Dict[str, Any] = {"ociVersion": OCI_VERSION, "id": id, "pid": pid,
                               "status": status, "bundle": meta.get("bundle", ""),
                               "rootfs": meta.get("rootfs", ""), "created": meta.get("created"),
                               "owner": meta.get("owner", "")}
        if meta.get("annotations"):
            doc["annotations"] = meta["annotations"]
        return doc

    def state_json(self, id: str) -> str:
        import json

        return json.dumps(self.state(id))

    def list(self) -> List[Dict[str, Any]]:
        if not os.path.isdir(self.dir):
            return []
        states = []
        for id in sorted(os.listdir(self.dir)):
            try:
                states.append(self.state(id))
            except (ContainerNotFound, LxcriError):
                continue  # not one of ours, deleted meanwhile, or half-written
        return states

    # -- run, delete ----------------------------------------------------------------------

    def run(self, id: str, options: RunOptions) -> int:
        status_r = self._create(id, options)
        try:
            self.start(id)
            if options.detach:
                return 0
            code = self._wait_exit(id, status_r)
        finally:
            os.close(status_r)
        if not options.keep:
            self.delete(id, force=True)
        return code

    def _wait_exit(self, id: str, status_r: int) -> int:
        """The container's exit code, from the monitor's status pipe (or the exit file)."""
        data = read_status(status_r, None if self._STATUS_TO_EOF else
                           lambda d: b"exit " in d and d.endswith(b"\n"))
        for line in data.decode(errors="replace").splitlines():
            if line.startswith("exit "):
                return int(line.split()[1])
        text = read_text(self._file(id, self._EXIT))
        if text is not None:
            return int(text.split()[0])
        raise LxcriError(f"container `{id}`: its lxcri monitor ended without an exit status; "
                         f"see {self._file(id, self._LOG)}", container_id=id)

    def delete(self, id: str, *, force: bool = False) -> None:
        try:
            self._meta(id)
        except ContainerNotFound:
            if force and os.path.isdir(self._dir(id)):
                self._destroy(id)  # a half-written container: nothing of it runs
                return
            raise
        except LxcriError:
            if not force:
                raise
        status, _pid = self._status(id)
        if status in ("running", "paused") and not force:
            raise ContainerStateError(
                f"cannot delete container `{id}`: it is {status}; stop it first "
                f"(`lxcri kill {id} KILL`) or use `delete --force`", container_id=id)
        if status == "creating" and not force:
            raise ContainerStateError(f"cannot delete container `{id}`: it is being created; "
                                      "use `delete --force`", container_id=id)
        self._destroy(id)
