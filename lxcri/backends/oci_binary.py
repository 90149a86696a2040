"""A backend that runs an OCI runtime binary (runc, or crun when the embedded one cannot load).

lxcri passes the binary the same command line an engine would pass to it, with a
root of the backend's own, and makes its results lxcri's: the state JSON is passed
through unchanged, the exit code of a foreground run or exec is returned, and the
binary's error messages become LxcriErrors (so they reach stderr and --log as one
line, like every other lxcri error).

The binary always writes its own log, as JSON, to a private file that lxcri reads
after the call: runc then keeps its messages off the container's stderr (which is
the caller's), and an error can be told apart from a container that exited 1.
Warnings go on to lxcri's --log, or to stderr when there is none.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri.errors import (
    BackendUnavailable,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidBundle,
    LxcriError,
    StateCorrupt,
    not_found,
)
from lxcri.options import LISTEN_VARS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Sequence, Tuple

    from lxcri.options import CreateOptions, ExecOptions, RunOptions

def find_binary(name: str, path: Optional[str] = None) -> Tuple[Optional[str], str]:
    """(the executable, "") or (None, why not): `path` from lxcri.toml, else $PATH."""
    if path:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path, ""
        return None, f"{path} (from lxcri.toml [runtimes.{name}] path) is not an executable file"
    for directory in os.environ.get("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                                    "/usr/bin:/sbin:/bin").split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, ""
    # Daemons often run with a short PATH; the usual places still count.
    for directory in ("/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate, ""
    return None, (f"no {name} executable on PATH: install it (Debian: apt-get install {name}) "
                  f"or set path in [runtimes.{name}] of lxcri.toml")


def binary_version(path: str) -> str:
    """The first line of `<binary> --version` ("runc version 1.1.5+ds1"), or ""."""
    import subprocess

    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.splitlines()[0].strip() if out else ""


class OciBinaryBackend:
    """Containers run by an OCI runtime binary with state under `state_root`."""

    def __init__(self, name: str, binary: str, state_root: str, private_dir: str, *,
                 debug: bool = False,
                 systemd_cgroup: bool = False, force_no_cgroup: bool = False,
                 log: Optional[str] = None, log_format: str = "text",
                 log_level: Optional[str] = None) -> None:
        self.name = name
        self.binary = binary
        self.root = state_root
        self.private_dir = private_dir  # lxcri's own files: the binary's log, resources
        self.debug = debug or log_level == "debug"
        self.systemd_cgroup = systemd_cgroup
        self.force_no_cgroup = force_no_cgroup
        self.log = log
        self.log_format = log_format
        self._log_seq = 0
        self.warning: Optional[str] = None  # a line dispatch shows once (a stand-in's reason)

    # -- running the binary ----------------------------------------------------------------

    def _globals(self, log_path: str) -> List[str]:
        argv = [self.binary, "--root", self.root, "--log", log_path, "--log-format", "json"]
        if self.debug:
            argv.append("--debug")
        if self.systemd_cgroup:
            argv.append("--systemd-cgroup")
        if self.force_no_cgroup:
            if self.name != "crun":
                raise LxcriError(f"the {self.name} backend cannot run a container without "
                                 "cgroups (--cgroup-manager disabled): use the crun runtime")
            argv += ["--cgroup-manager", "disabled"]
        return argv

    def _log_path(self) -> str:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        os.makedirs(self.private_dir, mode=0o700, exist_ok=True)
        self._log_seq += 1
        return os.path.join(self.private_dir, f".{self.name}-{os.getpid()}-{self._log_seq}.log")

    def _exec(self, what: str, id: Optional[str], args: Sequence[str], *,
              capture: bool = True, pass_fds: Sequence[int] = (),
              notify_socket: Optional[str] = None, listen_fds: int = 0) -> Tuple[int, str]:
        """Run the binary; return (exit code, stdout). The binary's error messages
        become an LxcriError whose text starts with `what`. The binary reads systemd's
        NOTIFY_SOCKET and LISTEN_FDS from its environment: it gets them only as the
        call's options give them (notify_socket; listen_fds, then as this process has
        them), not from whatever program this is."""
        import subprocess

        env = {k: v for k, v in os.environ.items()
               if k != "NOTIFY_SOCKET" and (listen_fds or k not in LISTEN_VARS)}
        if notify_socket:
            env["NOTIFY_SOCKET"] = notify_socket
        log_path = self._log_path()
        argv = self._globals(log_path) + list(args)
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            if capture:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, check=False,
                                      pass_fds=tuple(pass_fds), env=env)
                code, out, err = proc.returncode, proc.stdout.decode("utf-8", "replace"), \
                    proc.stderr.decode("utf-8", "replace")
            else:  # stdio is the container's: the caller's own fds
                code = subprocess.run(argv, check=False, pass_fds=tuple(pass_fds),
                                      env=env).returncode
                out = err = ""
        except OSError as exc:
            raise BackendUnavailable(f"cannot execute {self.binary}: {exc.strerror or exc}",
                                     container_id=id) from None
        finally:
            errors = self._read_log(log_path)
        if errors or (capture and code != 0):
            message = errors[-1] if errors else (err.strip().splitlines() or
                                                 [f"{self.binary} exited {code}"])[-1]
            problem = self._state_problem(id) if id is not None else None
            if problem is not None:
                raise StateCorrupt(f"{what}: {problem}; `lxcri delete --force {id}` kills its "
                                   "processes and removes it", container_id=id)
            error = self._error(what, id, message)
            # The binary printed its error on the stderr it shares with the container.
            error.shown = bool(errors) and not capture and code != 0
            raise error
        return code, out

    def _read_log(self, path: str) -> List[str]:
        """The error messages of the binary's JSON log; other lines go to lxcri's log."""
        errors: List[str] = []
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return errors
        finally:
            try:
                os.unlink(path)
            except OSError:
                pass
        if not lines:
            return errors  # the usual case: nothing logged, no json import
        import json

        passed: List[str] = []
        for line in lines:
            try:
                entry = json.loads(line)
                level, msg = str(entry.get("level", "")), str(entry.get("msg", ""))
            except (ValueError, AttributeError):
                level, msg = "info", line
            if level in ("error", "fatal", "panic"):
                errors.append(msg)
            elif level == "warning" or self.debug:
                passed.append(line if self.log_format == "json" else f"{level}: {msg}")
        if passed:
            self._forward(passed)
        return errors

    def _forward(self, lines: List[str]) -> None:
        if self.log and not self.log.startswith(("syslog:", "journald:")):
            try:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write("".join(f"{line}\n" for line in lines))
                return
            except OSError:
                pass
        for line in lines:
            sys.stderr.write(f"lxcri: {self.name}: {line}\n")

    def _error(self, what: str, id: Optional[str], message: str) -> LxcriError:
        text = f"{what}: {self.name}: {message}"
        low = message.lower()
        kw: Dict[str, Any] = {"container_id": id}
        if "does not exist" in low or "not found" in low and "container" in low and \
                "executable" not in low:
            return not_found(id, self.root) if id else LxcriError(text, **kw)
        if "already exists" in low or "already in use" in low:
            return ContainerExists(text, errno=errno_mod.EEXIST, **kw)
        if "executable file not found" in low or "no such file or directory" in low and \
                "exec" in low:
            return InvalidBundle(f"{text}; check process.args[0] in the bundle's config.json "
                                 "(and PATH in process.env)", **kw)
        if "not running" in low or "not stopped" in low or "cannot start" in low or \
                "is not paused" in low or "is paused" in low:
            return ContainerStateError(text, **kw)
        return LxcriError(text, **kw)

    def _state_file(self, id: str) -> Tuple[str, Tuple[str, ...]]:
        """The binary's state file of `id`, and the keys it cannot do without."""
        if self.name == "runc":
            return (os.path.join(self.root, id, "state.json"),
                    ("id", "init_process_pid", "cgroup_paths", "config"))
        return (os.path.join(self.root, id, "status"),
                ("pid", "cgroup-path", "rootfs", "bundle", "created"))

    def _state_problem(self, id: str) -> Optional[str]:
        """Why the binary's state file of `id` cannot be read, or None."""
        from lxcri.state import file_problem

        return file_problem(*self._state_file(id))

    def _require(self, id: str) -> None:
        if not os.path.isfile(os.path.join(self.root, id, "state.json")) and \
                not os.path.isfile(os.path.join(self.root, id, "status")):
            raise not_found(id, self.root)

    # -- operations ------------------------------------------------------------------------

    @staticmethod
    def _process_args(options: Any) -> Tuple[List[str], List[int]]:
        """The flags create, run and exec share, and the fds the binary passes on."""
        args: List[str] = []
        if options.pid_file:
            args += ["--pid-file", options.pid_file]
        if options.console_socket:
            args += ["--console-socket", options.console_socket]
        if options.preserve_fds:
            args += ["--preserve-fds", str(options.preserve_fds)]
        kept = list(range(3, 3 + options.preserve_fds + options.listen_fds))
        return args, kept

    def _start_args(self, options: CreateOptions) -> Tuple[List[str], List[int]]:
        bundle, config_path = str(options.bundle), options.config
        if os.path.dirname(config_path) != bundle or os.path.basename(config_path) != \
                "config.json":
            if self.name == "runc":
                raise InvalidBundle(f"the runc backend reads only {bundle}/config.json; "
                                    f"--config {config_path} needs the crun runtime")
            args = ["--bundle", bundle, "--config", config_path]
        else:
            args = ["--bundle", bundle]
        more, kept = self._process_args(options)
        args += more
        if options.no_pivot:
            args.append("--no-pivot")
        if options.no_new_keyring:
            args.append("--no-new-keyring")
        return args, kept

    def run(self, id: str, options: RunOptions) -> int:
        args, kept = self._start_args(options)
        if options.detach:
            args.append("--detach")
        if options.keep:
            args.append("--keep")
        if options.no_subreaper and self.name == "crun":
            args.append("--no-subreaper")
        code, _ = self._exec(f"cannot run container `{id}`", id, ["run", *args, id],
                             capture=False, pass_fds=kept, notify_socket=options.notify_socket,
                             listen_fds=options.listen_fds)
        return code

    def create(self, id: str, options: CreateOptions) -> None:
        args, kept = self._start_args(options)
        self._exec(f"cannot create container `{id}`", id, ["create", *args, id],
                   capture=False, pass_fds=kept, notify_socket=options.notify_socket,
                   listen_fds=options.listen_fds)

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        self._require(id)
        self._exec(f"cannot start container `{id}`", id, ["start", id],
                   notify_socket=notify_socket)

    def state_json(self, id: str) -> str:
        self._require(id)
        return self._exec(f"cannot read the state of container `{id}`", id, ["state", id])[1]

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002
        self._require(id)
        args = ["kill", *(["--all"] if all else []), id, str(signal)]
        self._exec(f"cannot send signal {signal} to container `{id}`", id, args)

    def delete(self, id: str, *, force: bool = False) -> None:
        self._require(id)
        # As libcrun, runc removes the state directory of a container whose state it
        # cannot read and leaves its processes and cgroups: lxcri.leftovers does it then.
        problem = self._state_problem(id)
        if problem is not None:
            raise StateCorrupt(f"cannot delete container `{id}`: {problem}; `lxcri delete "
                               f"--force {id}` kills its processes and removes it",
                               container_id=id)
        self._exec(f"cannot delete container `{id}`", id,
                   ["delete", *(["--force"] if force else []), id])

    def list(self) -> List[Dict[str, Any]]:
        import json

        if not os.path.isdir(self.root):
            return []
        out = self._exec(f"cannot list the containers of {self.name}", None,
                         ["list", "--format", "json"])[1]
        listed = json.loads(out or "null") or []
        states: List[Dict[str, Any]] = []
        for entry in listed:
            # `list` leaves out annotations and the OCI version: read the full state.
            try:
                states.append(json.loads(self.state_json(str(entry["id"]))))
            except (ContainerNotFound, ValueError, KeyError):
                continue  # deleted meanwhile
            except LxcriError as exc:
                states.append({"ociVersion": "", "id": str(entry.get("id")), "pid": 0,
                               "status": "unknown", "bundle": "", "lxcri.problem": str(exc)})
        # The binary's list skips a container whose state file it cannot read: say so.
        seen = {s.get("id") for s in states}
        for id in sorted(os.listdir(self.root)):
            if id in seen or id.startswith(".") or not os.path.isdir(os.path.join(self.root, id)):
                continue
            problem = self._state_problem(id)
            if problem is not None:
                states.append({"ociVersion": "", "id": id, "pid": 0, "status": "corrupt",
                               "bundle": "", "lxcri.problem": problem})
        return states

    def exec(self, id: str, options: ExecOptions) -> int:
        self._require(id)
        args, kept = self._process_args(options)
        if options.detach:
            args.append("--detach")
        code, _ = self._exec(f"cannot exec in container `{id}`", id,
                             ["exec", "--process", str(options.process), *args, id], capture=False,
                             pass_fds=kept, listen_fds=options.listen_fds)
        return code

    def ps(self, id: str) -> List[int]:
        import json

        self._require(id)
        out = self._exec(f"cannot list the processes of container `{id}`", id,
                         ["ps", "--format", "json", id])[1]
        return [int(p) for p in json.loads(out or "[]") or []]

    def pause(self, id: str) -> None:
        self._require(id)
        self._exec(f"cannot pause container `{id}`", id, ["pause", id])

    def resume(self, id: str) -> None:
        self._require(id)
        self._exec(f"cannot resume container `{id}`", id, ["resume", id])

    def update(self, id: str, resources_json: str) -> None:
        self._require(id)
        fd, path = _private_file(self.private_dir, resources_json)
        try:
            self._exec(f"cannot update container `{id}`", id, ["update", "--resources", path, id])
        finally:
            os.close(fd)
            os.unlink(path)

    def features(self) -> Dict[str, Any]:
        import json

        out = self._exec(f"cannot read the features of {self.name}", None, ["features"])[1]
        return dict(json.loads(out))


def _private_file(directory: str, text: str) -> Tuple[int, str]:
    import tempfile

    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, path = tempfile.mkstemp(prefix=".resources-", suffix=".json", dir=directory)
    os.write(fd, text.encode())
    return fd, path
