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

import os

from lxcri import bundle as bundle_mod
from lxcri.errors import ContainerExists, InvalidArgument, InvalidBundle, InvalidConfig, LxcriError
from lxcri.state import State

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: the CLI pays for every import
    from typing import IO, Any, Dict, List, Optional, Tuple, Union

    StdioArg = Union[None, int, IO[Any]]

__all__ = ["Runtime", "State", "DEFAULT_ROOT", "parse_signal", "version_info"]

DEFAULT_ROOT = "/run/lxcri"


def parse_signal(sig: Union[str, int]) -> int:
    """A signal number from a name ("TERM", "SIGTERM", "term"), a number or "RTMIN+N"."""
    import signal as signal_mod

    text = str(sig).strip()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal_mod.NSIG:
            return num
    else:
        name = text.upper()
        if not name.startswith("SIG"):
            name = "SIG" + name
        for base in ("SIGRTMIN", "SIGRTMAX"):
            if name.startswith(base) and name != base:
                try:
                    off = int(name[len(base):])
                except ValueError:
                    break
                num = getattr(signal_mod, base) + off
                if signal_mod.SIGRTMIN <= num <= signal_mod.SIGRTMAX:
                    return int(num)
        try:
            return int(signal_mod.Signals[name])
        except KeyError:
            pass
    raise InvalidArgument(
        f"unknown signal {text!r}: use a name such as TERM, KILL, HUP or a number 1-{signal_mod.NSIG - 1}")


DEVNULL = -3  # the value of subprocess.DEVNULL, accepted for stdin/stdout/stderr


def _stdio_fd(value: StdioArg, default: int, opened: List[int]) -> int:
    if value is None:
        fd = default
    elif value == DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        opened.append(fd)
    elif isinstance(value, int):
        fd = value
    else:
        fd = value.fileno()
    try:
        os.fstat(fd)
    except OSError:
        raise InvalidArgument(f"stdio fd {fd} is not open: pass an open file or fd") from None
    return fd


class Runtime:
    """Runs OCI containers; state lives under `root` (default /run/lxcri)."""

    def __init__(self, root: str = DEFAULT_ROOT, *, isolate: bool = True, debug: bool = False,
                 systemd_cgroup: bool = False, force_no_cgroup: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.isolate = isolate
        self._backend_args: Dict[str, Any] = {
            "root": self.root, "debug": debug, "systemd_cgroup": systemd_cgroup,
            "force_no_cgroup": force_no_cgroup}
        self._helper: Any = None
        self._backend: Any = None

    # -- plumbing --------------------------------------------------------------------------

    def _call(self, op: str, *args: Any, stdio: Optional[Tuple[int, int, int]] = None,
              **kwargs: Any) -> Any:
        if self.isolate:
            if self._helper is None:
                from lxcri.isolation import Helper

                self._helper = Helper()
            return self._helper.call(self._backend_args, op, args, kwargs, stdio or (0, 1, 2))
        if self._backend is None:
            from lxcri.backends.crun import CrunBackend

            self._backend = CrunBackend(**self._backend_args)
        return getattr(self._backend, op)(*args, **kwargs)

    def _call_with_stdio(self, op: str, stdin: StdioArg, stdout: StdioArg, stderr: StdioArg,
                         *args: Any, **kwargs: Any) -> Any:
        if not self.isolate:  # the CLI: the container's stdio is the process's stdio
            return self._call(op, *args, **kwargs)
        opened: List[int] = []
        try:
            stdio = (_stdio_fd(stdin, 0, opened), _stdio_fd(stdout, 1, opened),
                     _stdio_fd(stderr, 2, opened))
            return self._call(op, *args, stdio=stdio, **kwargs)
        finally:
            for fd in opened:
                os.close(fd)

    @staticmethod
    def _abs(path: Optional[str]) -> Optional[str]:
        return os.path.abspath(path) if path is not None else None

    def close(self) -> None:
        """Stop the helper process (containers keep running)."""
        if self._helper is not None:
            self._helper.close()
            self._helper = None

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

    def _start_process(self, op: str, id: str, bundle: Optional[str], config: str,
                       stdio: Tuple[StdioArg, StdioArg, StdioArg], **kwargs: Any) -> Any:
        """run/create. libcrun parses config.json itself; lxcri looks closer (JSON line and
        column, the schema's JSON path, the rootfs) only once something went wrong, so the
        happy path imports neither json nor jsonschema."""
        bundle_mod.validate_id(id)
        path = os.path.realpath(bundle if bundle is not None else os.curdir)
        if not os.path.isdir(path):
            bundle_mod.load_bundle(bundle, config)  # raises with the reason
        config_path = config if os.path.isabs(config) else os.path.join(path, config)
        try:
            return self._call_with_stdio(op, *stdio, id, path, config_path, **kwargs)
        except ContainerExists:
            raise  # nothing wrong with the bundle
        except LxcriError as exc:
            try:
                b = bundle_mod.load_bundle(path, config)
            except InvalidBundle as diagnosed:
                raise diagnosed from exc
            if isinstance(exc, InvalidConfig):  # libcrun refused the config itself
                explained = bundle_mod.explain_schema(b.config, b.config_path)
                if explained:
                    raise InvalidBundle(explained, errno=exc.errno,
                                        container_id=exc.container_id) from exc
            raise

    def run(self, id: str, bundle: Optional[str] = None, *, config: str = "config.json",
            pid_file: Optional[str] = None, detach: bool = False, stdin: StdioArg = None,
            stdout: StdioArg = None, stderr: StdioArg = None) -> int:
        """Create and start a container; in the foreground, wait and return its exit code
        (128+N when signal N killed it). stdio defaults to this process's fds 0, 1, 2;
        each of stdin, stdout, stderr may be a file object, an fd or subprocess.DEVNULL."""
        return int(self._start_process("run", id, bundle, config, (stdin, stdout, stderr),
                                       pid_file=self._abs(pid_file), detach=detach))

    def create(self, id: str, bundle: Optional[str] = None, *, config: str = "config.json",
               pid_file: Optional[str] = None, stdin: StdioArg = None, stdout: StdioArg = None,
               stderr: StdioArg = None) -> State:
        """Create a container: its process exists, the user's program waits for start()."""
        self.create_container(id, bundle, config=config, pid_file=pid_file, stdin=stdin,
                              stdout=stdout, stderr=stderr)
        return self.state(id)

    def create_container(self, id: str, bundle: Optional[str] = None, *,
                         config: str = "config.json", pid_file: Optional[str] = None,
                         stdin: StdioArg = None, stdout: StdioArg = None,
                         stderr: StdioArg = None) -> None:
        """create() without reading the state back (what the CLI needs: it prints nothing)."""
        self._start_process("create", id, bundle, config, (stdin, stdout, stderr),
                            pid_file=self._abs(pid_file))

    def start(self, id: str) -> None:
        self._call("start", bundle_mod.validate_id(id))

    def state(self, id: str) -> State:
        return State.from_json(self.state_json(id))

    def state_json(self, id: str) -> str:
        """The OCI state document, formatted as crun prints it."""
        return str(self._call("state_json", bundle_mod.validate_id(id)))

    def kill(self, id: str, signal: Union[str, int] = "TERM", *, all: bool = False) -> None:
        bundle_mod.validate_id(id)
        self._call("kill", id, parse_signal(signal), all=all)

    def delete(self, id: str, force: bool = False) -> None:
        self._call("delete", bundle_mod.validate_id(id), force=force)

    def list(self) -> List[State]:
        return [State.from_dict(d) for d in self._call("list")]


def version_info() -> Dict[str, Any]:
    """lxcri's and libcrun's versions, the OCI spec version, and libcrun's build features."""
    from lxcri._version import __version__
    from lxcri.backends.crun import version_info as crun_version

    return {"lxcri": __version__, **crun_version()}


def default_spec(rootless: bool = False) -> Dict[str, Any]:
    """libcrun's default config.json (what `crun spec` writes), as a dict."""
    import json

    from lxcri.backends.crun import spec_json

    return dict(json.loads(spec_json(rootless)))
