"""The options of create, run and exec, each set stated once: CreateOptions, RunOptions, ExecOptions.

The CLI (lxcri.commands) and the Runtime's keyword arguments build these; the
Runtime resolves them (absolute paths) and hands the one value to
the backend (`backend.create(id, options)`), in this process or through the
isolation helper, which carries them as the plain dict of `to_dict()`.

Plain classes with __slots__: this module is on the CLI's start-up path, where
dataclasses and typing cost milliseconds an engine pays on every call.
"""
from __future__ import annotations

# systemd socket activation's variables, which crun and runc read from their environment
# (the library's helper and binary backends pass them on only as listen_fds says).
LISTEN_VARS = ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES")

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time (see lxcri.commands)
    from typing import Any, Dict, Optional, Sequence, Type, TypeVar

    _O = TypeVar("_O", bound="_Options")


class _Options:
    """Equality, repr and the plain-dict form shared by the option sets."""

    __slots__ = ()
    kind = ""  # the name to_dict() records, so that from_dict() makes the same class

    def to_dict(self) -> Dict[str, Any]:
        """Every field, as JSON carries it (tuples become lists)."""
        return {name: list(value) if isinstance(value, tuple) else value
                for name, value in ((name, getattr(self, name)) for name in self._fields())}

    @classmethod
    def from_dict(cls: Type[_O], fields: Dict[str, Any]) -> _O:
        return cls(**fields)

    def replace(self: _O, **changes: Any) -> _O:
        """A copy with some fields changed."""
        fields = self.to_dict()
        fields.update(changes)
        return type(self)(**fields)

    def _fields(self) -> Sequence[str]:
        names: list[str] = []
        for klass in reversed(type(self).__mro__):
            names += getattr(klass, "__slots__", ())
        return names

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self._fields()) + ")"


class CreateOptions(_Options):
    """How create starts a container's first process.

    bundle: the bundle directory (default: the current one); config: its
    configuration file, relative to the bundle or absolute. From the Runtime on,
    both are absolute (config the file's path).

    listen_fds: how many of the caller's fds after the preserve_fds ones are
    systemd's sockets (socket activation's LISTEN_FDS), which the container keeps
    too; notify_socket: the path of an sd_notify socket (NOTIFY_SOCKET) the
    container's READY=1 and the like are passed on to. The Runtime reads neither
    from its process's environment, which in a program embedding lxcri is that
    program's own (a service's sockets are not a container's): the `lxcri`
    command fills both from its environment, as crun does.
    """

    __slots__ = ("bundle", "config", "pid_file", "console_socket", "preserve_fds", "listen_fds",
                 "notify_socket", "no_pivot", "no_new_keyring", "no_subreaper")
    kind = "create"

    def __init__(self, bundle: Optional[str] = None, config: str = "config.json", *,
                 pid_file: Optional[str] = None, console_socket: Optional[str] = None,
                 preserve_fds: int = 0, listen_fds: int = 0,
                 notify_socket: Optional[str] = None, no_pivot: bool = False,
                 no_new_keyring: bool = False, no_subreaper: bool = False) -> None:
        self.bundle = bundle
        self.config = config
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.listen_fds = listen_fds
        self.notify_socket = notify_socket
        self.no_pivot = no_pivot
        self.no_new_keyring = no_new_keyring
        self.no_subreaper = no_subreaper  # accepted and ignored, as crun does


class RunOptions(CreateOptions):
    """create's options, and: detach (return once started), keep (no delete after the exit)."""

    __slots__ = ("detach", "keep")
    kind = "run"

    def __init__(self, bundle: Optional[str] = None, config: str = "config.json", *,
                 detach: bool = False, keep: bool = False, **create: Any) -> None:
        CreateOptions.__init__(self, bundle, config, **create)
        self.detach = detach
        self.keep = keep


class ExecOptions(_Options):
    """How exec runs a further process in a container.

    Either `process`, an OCI process.json, or `args` with tty, cwd, env, user
    ("UID[:GID]"), caps and no_new_privs, of which the Runtime writes one. From
    the Runtime on, `process` is that file's absolute path. listen_fds: as
    CreateOptions has it.
    """

    __slots__ = ("process", "args", "tty", "cwd", "env", "user", "caps", "no_new_privs", "detach",
                 "console_socket", "pid_file", "preserve_fds", "listen_fds")
    kind = "exec"

    def __init__(self, process: Optional[str] = None, args: Optional[Sequence[str]] = None, *,
                 tty: bool = False, cwd: Optional[str] = None, env: Sequence[str] = (),
                 user: Optional[str] = None, caps: Sequence[str] = (), no_new_privs: bool = False,
                 detach: bool = False, console_socket: Optional[str] = None,
                 pid_file: Optional[str] = None, preserve_fds: int = 0,
                 listen_fds: int = 0) -> None:
        self.process = process
        self.args = list(args) if args is not None else None
        self.tty = tty
        self.cwd = cwd
        self.env = tuple(env)
        self.user = user
        self.caps = tuple(caps)
        self.no_new_privs = no_new_privs
        self.detach = detach
        self.console_socket = console_socket
        self.pid_file = pid_file
        self.preserve_fds = preserve_fds
        self.listen_fds = listen_fds


KINDS: Dict[str, Type[_Options]] = {c.kind: c for c in (CreateOptions, RunOptions, ExecOptions)}


def encode(value: Any) -> Any:
    """value as JSON carries it: an options object becomes {"options": kind, "fields": {...}}."""
    if isinstance(value, _Options):
        return {"options": value.kind, "fields": value.to_dict()}
    return value


def decode(value: Any) -> Any:
    """What encode() made, back as the object."""
    if isinstance(value, dict) and set(value) == {"options", "fields"}:
        return KINDS[value["options"]].from_dict(value["fields"])
    return value
