"""The bodies of lxcri's commands, shared by both parsers: call the Runtime, print, return an exit code.

Nothing here parses arguments or does container work. Every command function
takes the global options first and its own arguments as keywords, with no
defaults of their own: the grammar (lxcri.cli.grammar) states every default and
each parser passes every value, so the parity test can compare the two parsers
call for call.

Start-up time is the budget of this module: an engine runs `lxcri state` and
`lxcri kill` over and over. Only `sys` is imported at module level; the runtime,
the error classes, `json`, `re`, `time` and `traceback` are imported where they
are used, `json` only by what reads or prints JSON. Only create, run and exec_process
and the error mapping are in this module's own byte code: the other commands, and
what only a failure needs, are in lxcri.commands_more, found there on first use
(`commands.delete` works as before).
Measured here, `import dataclasses` costs about 25 ms and `import typing` about
12 ms, which is why `GlobalOptions` is a plain class and the typing names are
only imported for type checkers.
"""
from __future__ import annotations

import sys

# Stands in for typing.TYPE_CHECKING without importing typing; mypy treats any
# name TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from lxcri.runtime import Runtime

# The other defaults, and the values each option accepts, are in lxcri.cli.grammar.
DEFAULT_ROOT = "/run/lxcri"

# Exit code for a command cut short by Ctrl-C, as a shell reports SIGINT.
EXIT_INTERRUPTED = 130


class GlobalOptions:
    """The options given before the command word, normalized so that both parsers build equal objects.

    `--log file:PATH` is crun's spelling of `--log PATH`; `--log-level warn` is
    `warning`; `--systemd-cgroup` is `--cgroup-manager systemd`, and an explicit
    `--cgroup-manager` wins over it (crun lets the later one win; click cannot
    tell which came later, and no engine passes both).
    """

    __slots__ = ("root", "debug", "log", "log_format", "log_level", "cgroup_manager")

    def __init__(self, root: str = DEFAULT_ROOT, debug: bool = False, *, log: str | None = None,
                 log_format: str = "text", log_level: str | None = None,
                 cgroup_manager: str | None = None, systemd_cgroup: bool = False) -> None:
        self.root = root
        self.debug = debug
        self.log = log[len("file:"):] if log is not None and log.startswith("file:") else log
        self.log_format = log_format
        self.log_level = "warning" if log_level == "warn" else log_level
        if cgroup_manager is None:
            cgroup_manager = "systemd" if systemd_cgroup else "cgroupfs"
        self.cgroup_manager = cgroup_manager

    @property
    def systemd_cgroup(self) -> bool:
        return self.cgroup_manager == "systemd"

    @property
    def force_no_cgroup(self) -> bool:
        return self.cgroup_manager == "disabled"

    def _key(self) -> tuple[object, ...]:
        return (self.root, self.debug, self.log, self.log_format, self.log_level, self.cgroup_manager)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GlobalOptions):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return ("GlobalOptions(" + ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
                + ")")


# --- the seams to the library: tests replace these ---------------------------

def open_runtime(options: GlobalOptions) -> Runtime:
    """A Runtime for one CLI command: libcrun is called in this short-lived process."""
    from lxcri.runtime import Runtime

    return Runtime(options.root, isolate=False, debug=options.debug,
                   systemd_cgroup=options.systemd_cgroup, force_no_cgroup=options.force_no_cgroup,
                   log=options.log, log_format=options.log_format, log_level=options.log_level)


def read_version_info() -> dict[str, Any]:
    """Versions of lxcri, libcrun and the OCI spec, and libcrun's build features."""
    from lxcri.runtime_more import version_info

    return version_info()


def read_features() -> dict[str, Any]:
    """The OCI features document of this runtime."""
    from lxcri.runtime_more import features

    return features()


def write_spec(bundle_dir: str, rootless: bool) -> str:
    """Write a default config.json into bundle_dir and return its path."""
    from lxcri.runtime_more import write_spec as write

    return write(bundle_dir, rootless=rootless)


class _Session:
    """`with _Session(options) as rt:` opens a Runtime and always closes it."""

    __slots__ = ("_options", "_runtime")

    def __init__(self, options: GlobalOptions) -> None:
        self._options = options
        self._runtime: Runtime | None = None

    def __enter__(self) -> Runtime:
        self._runtime = open_runtime(self._options)
        return self._runtime

    def __exit__(self, *exc_info: object) -> None:
        if self._runtime is not None:
            self._runtime.close()


def _flush_stdio() -> None:
    # The container writes straight to fds 1 and 2: what Python still holds in
    # its buffers must get out first, or it lands after the container's output.
    sys.stdout.flush()
    sys.stderr.flush()


def systemd_env() -> tuple[int, str | None]:
    """What systemd handed this command, for the container (as crun takes them): the
    number of socket-activation fds (LISTEN_FDS) and the sd_notify socket
    (NOTIFY_SOCKET). The Runtime reads neither itself."""
    from lxcri import posixos

    listen = posixos.getenv("LISTEN_FDS") or ""
    return int(listen) if listen.isdigit() else 0, posixos.getenv("NOTIFY_SOCKET") or None


# --- the commands -------------------------------------------------------------

def create(options: GlobalOptions, *, container_id: str, bundle: str | None, config: str,
           pid_file: str | None, console_socket: str | None, preserve_fds: int, no_pivot: bool,
           no_new_keyring: bool, no_subreaper: bool, runtime: str | None) -> int:
    """Create a container from a bundle; its process waits for `start`.

    runtime: the backend (crun, runc, lxc, vm); None lets the routing rules choose.
    """
    from lxcri.options import CreateOptions

    listen_fds, notify_socket = systemd_env()
    process = CreateOptions(bundle, config, pid_file=pid_file, console_socket=console_socket,
                            preserve_fds=preserve_fds, listen_fds=listen_fds,
                            notify_socket=notify_socket, no_pivot=no_pivot,
                            no_new_keyring=no_new_keyring, no_subreaper=no_subreaper)
    _flush_stdio()
    with _Session(options) as rt:
        rt.create_container(container_id, options=process, runtime=runtime)
    return 0


def run(options: GlobalOptions, *, container_id: str, bundle: str | None, config: str,
        pid_file: str | None, console_socket: str | None, preserve_fds: int, no_pivot: bool,
        no_new_keyring: bool, no_subreaper: bool, detach: bool, keep: bool, runtime: str | None) -> int:
    """Create and start a container; in the foreground, exit as the container did."""
    from lxcri.options import RunOptions

    listen_fds, notify_socket = systemd_env()
    process = RunOptions(bundle, config, pid_file=pid_file, detach=detach, keep=keep,
                         console_socket=console_socket, preserve_fds=preserve_fds,
                         listen_fds=listen_fds, notify_socket=notify_socket, no_pivot=no_pivot,
                         no_new_keyring=no_new_keyring, no_subreaper=no_subreaper)
    _flush_stdio()
    with _Session(options) as rt:
        return rt.run(container_id, options=process, runtime=runtime)


def exec_process(options: GlobalOptions, *, container_id: str, command: list[str], process: str | None,
                 detach: bool, tty: bool, console_socket: str | None, pid_file: str | None,
                 cwd: str | None, env: list[str], user: str | None, caps: list[str],
                 no_new_privs: bool, preserve_fds: int) -> int:
    """Run a further process in a running container, described by a process.json or by a command.

    In the foreground, exit as that process did.
    """
    from lxcri.errors import InvalidArgument

    if process is not None and command:
        raise InvalidArgument("exec takes either --process FILE or a command, not both")
    if process is None and not command:
        raise InvalidArgument("exec needs a command to run, or --process FILE")
    from lxcri.options import ExecOptions

    what = ExecOptions(process, list(command) if command else None, detach=detach, tty=tty,
                       console_socket=console_socket, pid_file=pid_file, cwd=cwd, env=env, user=user,
                       caps=caps, no_new_privs=no_new_privs, preserve_fds=preserve_fds,
                       listen_fds=systemd_env()[0])
    _flush_stdio()
    with _Session(options) as rt:
        return rt.exec(container_id, what)


# --- the one place failures become messages and exit codes ---------------------

def invoke(fn: Callable[..., int], options: GlobalOptions, /, **arguments: object) -> int:
    """Run one command function and turn whatever it raises into a message and an exit code.

    LxcriError: `lxcri: <message>`, its exit code. Ctrl-C: 130, quietly.
    A closed stdout (`lxcri list | head`): 1, quietly. Anything else is a bug in
    lxcri: `lxcri: internal error: <type>: <message>`, 1, and the traceback
    only with --debug. Messages go to stderr and, with --log, to the log too.
    """
    try:
        return fn(options, **arguments)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        from lxcri.commands_more import _silence_stdout

        _silence_stdout()
        return 1
    except Exception as exc:
        from lxcri.errors import LxcriError

        if isinstance(exc, LxcriError):
            report(exc.message, options, to_stderr=not exc.shown)
            return int(exc.exit_code)
        from lxcri.commands_more import host_limit_message

        limit = host_limit_message(exc, options)
        if limit is not None:
            if options.debug:
                import traceback

                traceback.print_exc()
            report(limit, options)
            return 1
        if options.debug:
            import traceback

            traceback.print_exc()
        report(f"internal error: {type(exc).__name__}: {exc}", options)
        return 1


def report(message: str, options: GlobalOptions | None = None, *, to_stderr: bool = True) -> None:
    """Print `lxcri: <message>` on stderr, and append it to the --log file when there is one.

    The message is folded into one line so engines and logs keep it whole. In
    the log it is a line of its own: with --log-format json the object
    `{"msg", "level", "time"}` conmon and containerd's shim read (podman shows
    its msg to its user), else `<time> error: <message>`. A log that cannot be
    written to does not stop the message reaching stderr.
    """
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    if options is not None and options.log:
        from lxcri.commands_more import _append_to_log

        _append_to_log(options.log, options.log_format, line)
    if not to_stderr:
        return
    try:
        sys.stderr.write(f"lxcri: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed or gone: nowhere left to say it
        pass


# What lxcri.commands_more holds, looked up there on first use (see the module docstring).
_MORE = frozenset(("start", "state", "kill", "delete", "list_containers", "ps", "pause", "resume",
                   "update", "spec", "features", "info", "version", "host_limit_message",
                   "_append_to_log", "_silence_stdout"))


def __getattr__(name: str) -> object:
    if name not in _MORE:
        raise AttributeError(f"module 'lxcri.commands' has no attribute {name!r}")
    from lxcri import commands_more

    return getattr(commands_more, name)
