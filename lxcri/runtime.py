"""The library API: `lxcri.Runtime`, one object per state root.

    rt = lxcri.Runtime(root="/run/lxcri")
    code = rt.run("web", "/srv/bundles/web")

A Runtime validates ids and bundles here, then hands each operation to the
backend: in-process for the CLI (isolate=False, a short-lived process), or
through a sealed helper process for everything else (lxcri.isolation), so that a
long-lived caller keeps its signal mask, subreaper flag, keyring, cwd, fds and
children to itself.
"""
from __future__ import annotations

import posix

from lxcri import bundle as bundle_mod
from lxcri import dispatch, posixos, signals
from lxcri.backends import BACKENDS, OCI_BACKENDS, RuntimeType, state_dir
from lxcri.errors import (
    BackendUnavailable,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    InvalidConfig,
    LxcriError,
)
from lxcri.host import warmup

# What the library hands to its helper's zygote straight from the Runtime's process
# (lxcri.isolation.Helper.direct): crun's operations that start a process, but run with
# keep, whose exit status only the helper (the zygote's parent) learns.
_DIRECT_OPS = ("run", "create", "exec")

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: the CLI pays for every import
    from typing import IO, Any, Dict, List, Optional, Tuple, Type, TypeVar, Union

    from lxcri.options import CreateOptions, ExecOptions, RunOptions
    from lxcri.runtime_more import default_spec, features, version_info, write_spec
    from lxcri.state import State

    StdioArg = Union[None, int, IO[Any]]
    _AnyOptions = TypeVar("_AnyOptions", CreateOptions, RunOptions, ExecOptions)

__all__ = ["Runtime", "State", "DEFAULT_ROOT", "parse_signal", "version_info", "features",
           "write_spec", "default_spec"]

DEFAULT_ROOT = "/run/lxcri"


def parse_signal(sig: Union[str, int]) -> int:
    """A signal number from a name ("TERM", "SIGTERM", "term"), a number or "RTMIN+N"."""
    text = str(sig).strip()
    num = signals.number(text)
    if num is None:
        raise InvalidArgument(f"unknown signal {text!r}: use a name such as TERM, KILL, HUP or "
                              f"a number 1-{signals.LINUX_NSIG - 1}")
    return num


DEVNULL = -3  # the value of subprocess.DEVNULL, accepted for stdin/stdout/stderr


def _stdio_fd(value: StdioArg, default: int, opened: List[int]) -> int:
    if value is None:
        fd = default
    elif value == DEVNULL:
        fd = posix.open("/dev/null", posix.O_RDWR | posix.O_CLOEXEC)
        opened.append(fd)
    elif isinstance(value, int):
        fd = value
    else:
        fd = value.fileno()
    try:
        posix.fstat(fd)
    except OSError:
        raise InvalidArgument(f"stdio fd {fd} is not open: pass an open file or fd") from None
    return fd


class Runtime:
    """Runs OCI containers; state lives under `root` (default /run/lxcri)."""

    def __init__(self, root: str = DEFAULT_ROOT, *, isolate: bool = True, debug: bool = False,
                 systemd_cgroup: bool = False, force_no_cgroup: bool = False,
                 log: Optional[str] = None, log_format: str = "text",
                 log_level: Optional[str] = None, config: Optional[str] = None) -> None:
        """config: the lxcri.toml to use (default: $LXCRI_CONFIG, else /etc/lxcri/lxcri.toml)."""
        self.root = posixos.abspath(root)
        _check_root(root, self.root)
        self._config_path = posixos.abspath(config) if config else None
        self._config: Any = None
        # The library's Runtime outlives its containers: it keeps the empty bookkeeping
        # directories until close(); the CLI's, one command long, removes them at once.
        self._owners = dispatch.Owners(self.root, keep_dirs=isolate)
        self.isolate = isolate
        if log_format not in ("text", "json"):
            raise InvalidArgument(f"unknown log format {log_format!r}: use text or json")
        if log is not None and log.startswith("file:"):
            log = log[len("file:"):]
        if log is not None and ":" not in log:
            log = posixos.abspath(log)
        self._backend_args: Dict[str, Any] = {
            "root": self.root, "debug": debug, "systemd_cgroup": systemd_cgroup,
            "force_no_cgroup": force_no_cgroup, "log": log, "log_format": log_format,
            "log_level": log_level}
        self._helper: Any = None
        # Two threads' first calls must not start two helpers; _thread costs no import.
        import _thread

        self._helper_lock = _thread.allocate_lock()
        self._backends: Dict[str, Any] = {}
        self._direct: Any = None  # _direct_backend's: None not made yet, False none

    # -- plumbing --------------------------------------------------------------------------

    def config(self) -> Any:
        """The lxcri.toml in effect (lxcri.config.Config), read once."""
        if self._config is None:
            from lxcri import config

            self._config = config.load(self._config_path)
        return self._config

    def _options(self, runtime: str) -> Optional[Dict[str, Any]]:
        # The embedded crun needs no options: skip reading the config file for it.
        if runtime == RuntimeType.CRUN and self._config is None:
            return None
        return dict(self.config().options(runtime))

    def _call(self, runtime: str, op: str, *args: Any, stdio: Optional[Tuple[int, ...]] = None,
              **kwargs: Any) -> Any:
        """Perform `op` on backend `runtime`: in the sealed helper (isolate) or here."""
        if self.isolate:
            with self._helper_lock:
                if self._helper is None:
                    from lxcri.isolation import Helper

                    self._helper = Helper()
                helper = self._helper
            if runtime == RuntimeType.CRUN and op in _DIRECT_OPS and not (
                    op == "run" and getattr(args[-1], "keep", False)):
                backend = self._direct_backend()
                if backend is not None:
                    done, result = helper.direct(backend, op, args, kwargs, stdio or (0, 1, 2))
                    if done:
                        return result
            request = {"runtime": runtime, "args": self._backend_args,
                       "options": self._options(runtime), "config": self._config_path}
            return helper.call(request, op, args, kwargs, stdio or (0, 1, 2))
        if warmup.pending():
            warmup.stop()  # the launcher's child, before the backend moves a process
        backend = self._backends.get(runtime)
        if backend is None:
            backend = dispatch.open_backend(runtime, self._backend_args, self._options(runtime),
                                            self._config_path)
            self._backends[runtime] = backend
        return getattr(backend, op)(*args, **kwargs)

    def _direct_backend(self) -> Any:
        """The embedded crun's backend in this process, for the create, run and exec that
        it hands to the helper's zygote itself (it loads no libcrun here); None when the
        embedded crun is not what serves crun (the crun binary stands in)."""
        if self._direct is None:
            from lxcri.backends.crun import embedded_problem

            self._direct = False
            if embedded_problem(load=False) is None:
                from lxcri.backends.crun.backend import CrunBackend

                self._direct = CrunBackend(**self._backend_args)
        return self._direct or None

    def owner(self, id: str) -> str:
        """The backend that owns container `id` (crun when no record says otherwise)."""
        return self._owners.get(bundle_mod.validate_id(id)) or RuntimeType.CRUN

    def _on_owner(self, op: str, id: str, *args: Any, **kwargs: Any) -> Any:
        return self._call(self.owner(id), op, id, *args, **kwargs)

    def _on_container(self, what: str, op: str, id: str, *args: Any, **kwargs: Any) -> Any:
        """_on_owner for an operation on a live container (start, kill, exec, ...): an id
        that only an unfinished create's record knows is not "missing" but half-made, and
        the error says so (and what removes it)."""
        try:
            return self._on_owner(op, id, *args, **kwargs)
        except ContainerNotFound:
            record = self._unfinished(id)
            if record is None:
                raise
            from lxcri import leftovers

            raise ContainerStateError(
                f"cannot {what} container `{id}`: {leftovers.describe(record)}; "
                f"`lxcri delete --force {id}` removes it", container_id=id) from None

    def _exists(self, runtime: str, id: str) -> bool:
        try:
            self._call(runtime, "state_json", id)
        except (ContainerNotFound, BackendUnavailable):
            return False
        except LxcriError:
            return True  # it is there, something else is wrong
        return True

    def _call_with_stdio(self, runtime: str, op: str, stdin: StdioArg, stdout: StdioArg,
                         stderr: StdioArg, id: str, options: Any) -> Any:
        """op(id, options): the options (their preserve_fds and listen_fds) say which fds
        beyond stdio the container keeps."""
        if not self.isolate:  # the CLI: the container's stdio is the process's stdio
            return self._call(runtime, op, id, options)
        opened: List[int] = []
        try:
            # fds 3.. that the container keeps (--preserve-fds, LISTEN_FDS) travel too.
            kept = int(options.preserve_fds) + int(options.listen_fds)
            stdio: Tuple[int, ...] = (_stdio_fd(stdin, 0, opened), _stdio_fd(stdout, 1, opened),
                                      _stdio_fd(stderr, 2, opened), *range(3, 3 + kept))
            return self._call(runtime, op, id, options, stdio=stdio)
        finally:
            for fd in opened:
                posix.close(fd)

    @staticmethod
    def _abs(path: Optional[str]) -> Optional[str]:
        return posixos.abspath(path) if path is not None else None

    def close(self) -> None:
        """Stop the helper process (containers keep running) and remove lxcri's
        bookkeeping directories under the root if no container needs them."""
        with self._helper_lock:
            helper, self._helper = self._helper, None
        if helper is not None:
            helper.close()
        if self._owners.keep_dirs:
            self._owners.tidy()

    def __enter__(self) -> "Runtime":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    # -- OCI operations --------------------------------------------------------------------

    def choose_runtime(self, id: str, bundle: Optional[str] = None, *,
                       config: str = "config.json", runtime: Optional[str] = None) -> Any:
        """Which backend a new container `id` from `bundle` would run on, and why
        (a dispatch.Choice): --runtime, the lxcri.runtime annotation, the routing rules,
        the built-in lxc-* rule, default_runtime, crun."""
        path = posixos.realpath(bundle if bundle is not None else ".")
        config_path = config if posixos.isabs(config) else posixos.join(path, config)
        bundle_mod.check_config_limits(config_path)  # before anything reads it
        return self._choose(id, config_path, runtime)

    def _choose(self, id: str, config_path: str, runtime: Optional[str]) -> Any:
        cfg = self.config()
        annotations = dispatch.read_annotations(config_path, needed=bool(cfg.rules))
        return dispatch.choose(id, explicit=runtime, annotations=annotations, config=cfg)

    def _serving(self, choice: Any, id: str) -> str:
        """The backend that will actually run the container: the choice, unless it is
        an implicit crun that cannot load and runc can stand in (one warning line)."""
        name = str(choice.runtime)
        if name != RuntimeType.CRUN or choice.explicit:
            return name
        problem = dispatch.embedded_crun_problem(load=False)  # the zygote may be what loads it
        if problem is None:
            return name
        from lxcri.backends.oci_binary import find_binary

        if find_binary("crun", self.config().options("crun").get("path"))[0] is not None:
            return name  # the crun binary serves crun's containers (open_backend warns)
        ok, why = dispatch.availability(RuntimeType.RUNC, self.config().options("runc"))
        if not ok:
            raise BackendUnavailable(f"cannot run container `{id}`: {problem}; no crun "
                                     f"binary to fall back to, and runc is unavailable: {why}",
                                     container_id=id)
        dispatch.warn(f"{problem}; no crun binary either: container `{id}` runs on runc")
        return RuntimeType.RUNC

    def _claim(self, id: str, runtime: str, facts: Dict[str, str]) -> None:
        if runtime != RuntimeType.CRUN and posixos.isfile(posixos.join(self.root, id, "status")):
            raise dispatch.exists_error(id, RuntimeType.CRUN, self.root)  # crun's, unrecorded
        if self._owners.claim(id, runtime, facts):
            return
        record = self._owners.read(id)
        owner = record.runtime if record is not None else None
        if owner is not None and self._exists(owner, id):
            raise dispatch.exists_error(id, owner, self.root)
        if record is not None and (record.problem is not None or record.phase == "creating"):
            # What an interrupted create or a corrupt record left is not silently reused.
            from lxcri import leftovers

            why = record.problem and f"lxcri's record {record.path} is corrupt " \
                f"({record.problem})" or leftovers.describe(record)
            raise ContainerExists(f"container `{id}` already exists under {self.root}: {why}; "
                                  f"`lxcri delete --force {id}` removes what it left",
                                  errno=17, container_id=id)
        self._owners.release(id)  # a stale record: its container is gone
        if not self._owners.claim(id, runtime, facts):
            raise dispatch.exists_error(id, self._owners.get(id) or runtime, self.root)

    def _intent(self, id: str, runtime: str, bundle: str, config_path: str) -> Dict[str, str]:
        """The intent record of a create (lxcri.dispatch.Record), written before the backend
        is called: who creates, from which bundle, into which cgroup. Refuses a
        linux.cgroupsPath that leaves the cgroup hierarchy, before any backend runs."""
        from lxcri.host import procfs

        facts = {"phase": "creating", "pid": str(posix.getpid()),
                 "start": procfs.starttime(posix.getpid()) or "", "bundle": bundle}
        if runtime not in OCI_BACKENDS:
            return facts
        cgroups_path = dispatch.read_cgroups_path(config_path)
        if cgroups_path is not None:
            from lxcri.host import cgroup_paths

            problem = cgroup_paths.cgroups_path_problem(cgroups_path)
            if problem is not None:
                raise InvalidBundle(f"{config_path}: linux.cgroupsPath {cgroups_path!r} is "
                                    f"refused: {problem}; use a path below it, such as "
                                    f"/lxcri/{id}", container_id=id)
        directory = state_dir(self.root, runtime, id)
        facts["state_new"] = "1" if directory and not posixos.lexists(directory) else "0"
        manager = self._backend_args
        if manager["force_no_cgroup"] or manager["systemd_cgroup"]:
            return facts  # none, or systemd's (known only once systemd made it)
        from lxcri.host import cgroup_paths, mountinfo

        dirs = cgroup_paths.container_dirs(runtime, id, cgroups_path,
                                           mountinfo.parse(mountinfo.read()), procfs.cgroup())
        facts["cgroup_dirs"] = "\t".join(dirs)
        facts["cgroup_old"] = "\t".join(cgroup_paths.existing(dirs))
        return facts

    def _cgroups_made(self, id: str, runtime: str) -> Dict[str, str]:
        """Facts for the record once a create succeeded: under the systemd cgroup manager,
        the cgroup systemd gave the container (known only now, from the backend's state
        file), so that a corrupt state file later does not hide it."""
        if not self._backend_args["systemd_cgroup"] or self._backend_args["force_no_cgroup"]:
            return {}
        from lxcri import leftovers

        dirs = leftovers.cgroup_dirs_in_state(self.root, runtime, id)
        return {"cgroup_dirs": "\t".join(dirs)} if dirs else {}

    def _undo_create(self, id: str, runtime: str, exc: Optional[BaseException]) -> None:
        """After a failed create or run: remove whatever the attempt made (the backend's
        container if it got that far, cgroups libcrun left, its state directory) and the
        record. A ContainerExists from the backend means the id was taken: nothing is ours."""
        from lxcri import leftovers

        if isinstance(exc, ContainerExists):
            self._owners.release(id)
            return
        record = self._owners.read(id)
        try:
            if self._exists(runtime, id):
                try:
                    self._call(runtime, "delete", id, force=True)
                except LxcriError:
                    pass
            if record is not None and runtime in OCI_BACKENDS:
                leftovers.remove(self.root, id, self._owners, record, runtimes=[runtime],
                                 failed_create=True)
        finally:
            self._owners.release(id)

    def _start_process(self, op: str, id: str, options: CreateOptions,
                       stdio: Tuple[StdioArg, StdioArg, StdioArg], runtime: Optional[str]) -> Any:
        """run/create. libcrun parses config.json itself; lxcri looks closer (JSON line and
        column, the schema's JSON path, the rootfs) only once something went wrong, so the
        happy path imports neither json nor jsonschema."""
        _check_fd_counts(options.preserve_fds, options.listen_fds)
        bundle_mod.validate_id(id)
        if self.isolate:
            warmup.nudge()  # the CLI's launcher has its own warm-up
        bundle, config = options.bundle, options.config
        path = posixos.realpath(bundle if bundle is not None else ".")
        if not posixos.isdir(path):
            bundle_mod.load_bundle(bundle, config)  # raises with the reason
        config_path = config if posixos.isabs(config) else posixos.join(path, config)
        bundle_mod.check_config_limits(config_path)  # before anything reads it
        # What the backend receives: absolute paths.
        resolved = options.replace(bundle=path, config=config_path,
                                   pid_file=self._abs(options.pid_file),
                                   console_socket=self._abs(options.console_socket),
                                   notify_socket=self._abs(_notify_socket(options.notify_socket)))
        choice = self._choose(id, config_path, runtime)
        serving = self._serving(choice, id)
        if BACKENDS[serving].check_before_create:
            ok, why = dispatch.availability(serving, self.config().options(serving))
            if not ok:
                raise BackendUnavailable(
                    f"cannot {op} container `{id}` on the {serving} runtime (chosen by "
                    f"{choice.reason}): {why}", container_id=id)
        _check_root_writable(self.root)
        self._claim(id, serving, self._intent(id, serving, path, config_path))
        _test_stop_at("intent")
        done = False
        failure: Optional[BaseException] = None
        try:
            result = self._call_with_stdio(serving, op, *stdio, id, resolved)
            done = True
            return result
        except ContainerExists as exc:
            failure = exc
            raise  # nothing wrong with the bundle
        except BackendUnavailable as exc:
            failure = exc
            raise BackendUnavailable(f"cannot {op} container `{id}` on the {serving} runtime "
                                     f"(chosen by {choice.reason}): {exc.message}",
                                     container_id=id) from None
        except InvalidConfig as exc:  # the backend refused the config itself: say where
            try:
                b = bundle_mod.load_bundle(path, config)
            except InvalidBundle as diagnosed:
                raise diagnosed from exc
            explained = bundle_mod.explain_schema(b.config, b.config_path)
            if explained:
                raise InvalidBundle(explained, errno=exc.errno,
                                    container_id=exc.container_id) from exc
            raise
        except LxcriError as exc:
            # Otherwise the backend's own message is the relevant one (a missing
            # executable, --detach with a terminal, ...), but for a missing rootfs.
            try:
                bundle_mod.check_rootfs(path, config_path)
            except InvalidBundle as diagnosed:
                raise diagnosed from exc
            raise
        finally:
            # A foreground run removes its container when it exits; a failed create
            # leaves nothing behind.
            if (op == "run" and done and not getattr(options, "detach", False)
                    and not getattr(options, "keep", False)):
                self._owners.release(id)
            elif done:
                _test_stop_at("created")
                try:
                    self._owners.update(id, phase="created", **self._cgroups_made(id, serving))
                except OSError:
                    pass  # a full disk: the record says creating, libcrun's status says more
            else:
                self._undo_create(id, serving, failure)

    def run(self, id: str, bundle: Optional[str] = None, options: Optional[RunOptions] = None, *,
            stdin: StdioArg = None, stdout: StdioArg = None, stderr: StdioArg = None,
            runtime: Optional[str] = None, **keywords: Any) -> int:
        """Create and start a container; in the foreground, wait and return its exit code
        (128+N when signal N killed it). stdio defaults to this process's fds 0, 1, 2;
        each of stdin, stdout, stderr may be a file object, an fd or subprocess.DEVNULL.
        runtime: the backend (crun, runc, lxc, vm); by default the routing rules choose.

        The container's options are a lxcri.options.RunOptions, or its fields as keywords:
        config (default config.json), pid_file, detach, keep (leave the stopped container
        in place, to delete later), console_socket, preserve_fds, listen_fds,
        notify_socket (systemd's, which this process's environment does not give a
        container), no_pivot, no_new_keyring, no_subreaper."""
        from lxcri.options import RunOptions  # create, run and exec only: not on state's path

        return int(self._start_process("run", id, _options(RunOptions, bundle, options, keywords),
                                       (stdin, stdout, stderr), runtime))

    def create(self, id: str, bundle: Optional[str] = None,
               options: Optional[CreateOptions] = None, *, stdin: StdioArg = None,
               stdout: StdioArg = None, stderr: StdioArg = None, runtime: Optional[str] = None,
               **keywords: Any) -> State:
        """Create a container: its process exists, the user's program waits for start().
        The options are a lxcri.options.CreateOptions, or its fields as keywords (see run)."""
        self.create_container(id, bundle, options, stdin=stdin, stdout=stdout, stderr=stderr,
                              runtime=runtime, **keywords)
        return self.state(id)

    def create_container(self, id: str, bundle: Optional[str] = None,
                         options: Optional[CreateOptions] = None, *, stdin: StdioArg = None,
                         stdout: StdioArg = None, stderr: StdioArg = None,
                         runtime: Optional[str] = None, **keywords: Any) -> None:
        """create() without reading the state back (what the CLI needs: it prints nothing)."""
        from lxcri.options import CreateOptions

        self._start_process("create", id, _options(CreateOptions, bundle, options, keywords),
                            (stdin, stdout, stderr), runtime)

    def exec(self, id: str, options: Optional[ExecOptions] = None, *, stdin: StdioArg = None,
             stdout: StdioArg = None, stderr: StdioArg = None, **keywords: Any) -> int:
        """Run another process in a running container: from a process.json (`process`) or
        from `args` and the options. In the foreground, return its exit code.

        The options are a lxcri.options.ExecOptions, or its fields as keywords: process,
        args, detach, tty, console_socket, pid_file, cwd, env, user, caps, no_new_privs,
        preserve_fds, listen_fds."""
        from lxcri import runtime_more

        return runtime_more.exec_process(self, id, options, stdin, stdout, stderr, keywords)

    def pause(self, id: str) -> None:
        self._on_container("pause", "pause", id)

    def resume(self, id: str) -> None:
        self._on_container("resume", "resume", id)

    def ps(self, id: str) -> List[int]:
        """The pids of every process in the container."""
        return [int(p) for p in self._on_container("list the processes of", "ps", id)]

    def update(self, id: str, resources: Dict[str, Any]) -> None:
        """Change a running container's resources (an OCI LinuxResources object)."""
        import json

        if not isinstance(resources, dict):
            raise InvalidArgument("resources must be a JSON object (OCI linux.resources)")
        self._on_container("update", "update", id, json.dumps(resources))

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        """Start a created container. notify_socket: the sd_notify socket its READY=1
        is passed on to (start then waits for it), as CreateOptions has it; None: none
        (this process's NOTIFY_SOCKET is not read)."""
        self._on_container("start", "start", id,
                           notify_socket=self._abs(_notify_socket(notify_socket)))

    def state(self, id: str) -> State:
        from lxcri.state import State

        return State.from_json(self.state_json(id), self.owner(id))

    def state_json(self, id: str) -> str:
        """The OCI state document, as the owning backend prints it; for a create that has
        not finished (or was killed half-way), lxcri's own (lxcri.leftovers)."""
        try:
            return str(self._on_owner("state_json", id))
        except ContainerNotFound:
            record = self._unfinished(id)
            if record is None:
                raise
        import json

        from lxcri import leftovers

        return json.dumps(leftovers.interrupted_state(record))

    def _unfinished(self, id: str) -> Optional[Any]:
        """The record of `id` when it is all that is left of it: a create that has not
        finished; StateCorrupt when the record cannot be read; None otherwise."""
        record = self._owners.read(id)
        if record is None:
            return None
        if record.problem is not None:
            from lxcri import leftovers

            raise leftovers.corrupt_record(record)
        return record if record.phase == "creating" else None

    def kill(self, id: str, signal: Union[str, int] = "TERM", *, all: bool = False) -> None:
        self._on_container("send a signal to", "kill", id, parse_signal(signal), all=all)

    def delete(self, id: str, force: bool = False) -> None:
        """Delete a container. With force, a running one is killed first, and an id that
        does not exist is not an error (as with crun and runc).

        What a create killed half-way left is removed by either (lxcri.leftovers); while
        its create still runs, only with force (which kills the creating process too). A
        container whose state files are corrupt is removed only with force."""
        from lxcri import runtime_more

        runtime_more.delete(self, id, force)

    def list(self) -> List[State]:
        """Every container under the root, whichever backend runs it (State.runtime), and
        what lxcri's records alone know: unfinished creates (`creating`, `broken`) and
        unreadable records (`corrupt`)."""
        from lxcri import runtime_more

        return runtime_more.list_states(self)

    def info(self) -> Dict[str, Any]:
        """What `lxcri info` prints: versions, backends and their availability, cgroup
        mode, the config file and its routing rules, the state root."""
        from lxcri import runtime_more

        return runtime_more.info(self)


def _check_root(given: str, root: str) -> None:
    """Refuse a state root lxcri must never write into: / (directly or through symlinks)
    or something that is not a directory."""
    real = posixos.realpath(root)
    if real == "/":
        how = "" if root == "/" else " (it resolves to /)"
        raise InvalidArgument(f"state root {given} is the host's / directory{how}: lxcri "
                              "would write its containers' state there; pass --root a "
                              "directory of its own, such as /run/lxcri")
    if posixos.lexists(real) and not posixos.isdir(real):
        raise InvalidArgument(f"state root {given} is not a directory: pass --root a "
                              "directory (lxcri makes it when it is missing)")


def _check_root_writable(root: str) -> None:
    """Refuse, before anything is written, a state root that cannot be written: the root,
    or the nearest directory above it that exists (lxcri would make the rest)."""
    path = root
    while not posixos.lexists(path) and path != posixos.dirname(path):
        path = posixos.dirname(path)
    if not posixos.isdir(path):
        raise InvalidArgument(f"state root {root} cannot be made: {path} is not a directory; "
                              "pass --root a directory")
    if posix.access(path, posix.W_OK | posix.X_OK):
        return
    readonly = bool(posix.statvfs(path).f_flag & posix.ST_RDONLY)
    why = "it is on a read-only file system" if readonly else "permission denied"
    where = "" if path == root else f" ({path}, where it would be made)"
    raise InvalidArgument(f"state root {root} is not writable{where}: {why}; pass --root a "
                          "writable directory, such as /run/lxcri")


# TEST-ONLY: $LXCRI_TEST_STOP_AT names a point of create/run where lxcri stops itself
# with SIGSTOP, so that a test can SIGKILL it exactly there: "intent" (the record is
# written, the backend not called yet), "created" (the backend returned, the record not
# yet marked created). Unset in production: one environment lookup.
_TEST_STOP_AT = "LXCRI_TEST_STOP_AT"


def _test_stop_at(point: str) -> None:
    if posixos.getenv(_TEST_STOP_AT) == point:
        import signal

        posix.kill(posix.getpid(), signal.SIGSTOP)


def _notify_socket(path: object) -> "Optional[str]":
    """A notify_socket option, checked: None, or the path of a socket."""
    if path is None or (isinstance(path, str) and path and "\0" not in path):
        return path
    raise InvalidArgument(f"invalid notify_socket {path!r}: use the path of an sd_notify "
                          "socket, or None")


def _options(cls: Type[_AnyOptions], bundle: Optional[str], options: Optional[Any],
             keywords: Dict[str, Any]) -> _AnyOptions:
    """The options of a Runtime call: the object given, or one made from the keywords."""
    if options is None:
        return cls(bundle, **keywords) if bundle is not None else cls(**keywords)
    if keywords or bundle is not None:
        raise InvalidArgument("pass the options either as an object or as keywords, not both")
    if cls.kind == "run" and getattr(options, "kind", None) == "create":
        return cls.from_dict(options.to_dict())  # run with create's options: attached, deleted
    if not isinstance(options, cls):
        raise InvalidArgument(f"options must be a lxcri.options.{cls.__name__}, "
                              f"not {type(options).__name__}")
    return options


def _check_fd_counts(preserve_fds: object, listen_fds: object) -> None:
    """The preserve_fds and listen_fds options, checked: counts of fds from 3 on."""
    for name, value in (("--preserve-fds", preserve_fds), ("listen_fds", listen_fds)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise InvalidArgument(f"invalid {name} {value!r}: use a number >= 0")


# Offered here, kept in lxcri.state and lxcri.runtime_more (which a CLI create does not load).
_MORE = ("write_spec", "features", "version_info", "default_spec")


def __getattr__(name: str) -> object:
    if name == "State":
        from lxcri.state import State

        return State
    if name not in _MORE:
        raise AttributeError(f"module 'lxcri.runtime' has no attribute {name!r}")
    from lxcri import runtime_more

    return getattr(runtime_more, name)
