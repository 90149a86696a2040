"""The bodies of lxcri's commands, shared by both parsers: call the Runtime, print, return an exit code.

Nothing here parses arguments or does container work. Every command function
takes the global options first and its own arguments as keywords, with no
defaults of their own: each parser states every value it passes, so the parity
test can compare the two parsers call for call.

Start-up time is the budget of this module: an engine runs `lxcri state` and
`lxcri kill` over and over. Only `sys` is imported at module level; the runtime,
the error classes, `json` and `traceback` are imported where they are used.
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
    from collections.abc import Callable, Sequence
    from typing import Any

    from lxcri.runtime import Runtime, State

DEFAULT_ROOT = "/run/lxcri"
DEFAULT_CONFIG = "config.json"
DEFAULT_SIGNAL = "TERM"
LIST_FORMATS = ("table", "json")

# Exit code for a command cut short by Ctrl-C, as a shell reports SIGINT.
EXIT_INTERRUPTED = 130


class GlobalOptions:
    """The options given before the command word."""

    __slots__ = ("root", "debug")

    def __init__(self, root: str = DEFAULT_ROOT, debug: bool = False) -> None:
        self.root = root
        self.debug = debug

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GlobalOptions):
            return NotImplemented
        return (self.root, self.debug) == (other.root, other.debug)

    def __hash__(self) -> int:
        return hash((self.root, self.debug))

    def __repr__(self) -> str:
        return f"GlobalOptions(root={self.root!r}, debug={self.debug!r})"


# --- the seams to the library: tests replace these two ---------------------

def open_runtime(options: GlobalOptions) -> Runtime:
    """A Runtime for one CLI command: libcrun is called in this short-lived process."""
    from lxcri.runtime import Runtime

    return Runtime(root=options.root, isolate=False, debug=options.debug)


def read_version_info() -> dict[str, Any]:
    """Versions of lxcri, libcrun and the OCI spec, and libcrun's build features."""
    from lxcri.runtime import version_info

    return version_info()


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


# --- the commands -------------------------------------------------------------

def create(options: GlobalOptions, *, container_id: str, bundle: str | None,
           config: str, pid_file: str | None) -> int:
    """Create a container from a bundle; its process waits for `start`."""
    _flush_stdio()
    with _Session(options) as rt:
        rt.create_container(container_id, bundle, config=config, pid_file=pid_file)
    return 0


def start(options: GlobalOptions, *, container_id: str) -> int:
    """Start the user process of a created container."""
    with _Session(options) as rt:
        rt.start(container_id)
    return 0


def state(options: GlobalOptions, *, container_id: str) -> int:
    """Print the OCI state of a container as JSON."""
    with _Session(options) as rt:
        text = rt.state_json(container_id)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def kill(options: GlobalOptions, *, container_id: str, signal: str) -> int:
    """Send a signal, by name or number, to a container's init process."""
    with _Session(options) as rt:
        rt.kill(container_id, signal)
    return 0


def delete(options: GlobalOptions, *, container_id: str, force: bool) -> int:
    """Delete a container; with force, kill it first if it still runs."""
    with _Session(options) as rt:
        rt.delete(container_id, force=force)
    return 0


def run(options: GlobalOptions, *, container_id: str, bundle: str | None, config: str,
        pid_file: str | None, detach: bool) -> int:
    """Create and start a container; in the foreground, exit as the container did."""
    _flush_stdio()
    with _Session(options) as rt:
        return rt.run(container_id, bundle, config=config, pid_file=pid_file, detach=detach)


def list_containers(options: GlobalOptions, *, output_format: str, quiet: bool) -> int:
    """Print the containers under the root: a table, JSON, or ids only."""
    with _Session(options) as rt:
        states = rt.list()
    if quiet:
        # runc's precedence: -q prints ids whatever the format says.
        text = "".join(f"{s.id}\n" for s in states)
    elif output_format == "json":
        text = format_json_list(states)
    else:
        text = format_table(states)
    sys.stdout.write(text)
    return 0


def version(options: GlobalOptions) -> int:
    """Print the versions of lxcri, libcrun and the OCI spec, and libcrun's features."""
    info = read_version_info()
    features = info.get("features") or ()
    sys.stdout.write(
        f"lxcri version {info['lxcri']}\n"
        f"libcrun version {info['libcrun']}\n"
        f"spec: {info['spec']}\n"
        f"{' '.join(str(f) for f in features)}\n"
    )
    return 0


# --- what list prints -----------------------------------------------------------

def _shown_pid(s: State) -> int:
    # As crun: a container whose process is gone lists pid 0.
    return 0 if s.status == "stopped" or not s.pid else int(s.pid)


def format_table(states: Sequence[State]) -> str:
    """The `list` table, column for column as `crun list` lays it out."""
    width = max([4] + [len(s.id) for s in states]) + 1
    lines = [f"{'NAME':<{width}}{'PID':<10}{'STATUS':<8} {'BUNDLE PATH':<39} {'CREATED':<30} OWNER"]
    for s in states:
        lines.append(f"{s.id:<{width}}{_shown_pid(s):<10}{s.status:<8} {s.bundle:<39} "
                     f"{s.created:<30} {s.owner}")
    return "\n".join(lines) + "\n"


def format_json_list(states: Sequence[State]) -> str:
    """`list --format json`: the array of {id, pid, status, bundle, created, owner} crun prints."""
    import json

    entries = [{"id": s.id, "pid": _shown_pid(s), "status": s.status, "bundle": s.bundle,
                "created": s.created, "owner": s.owner} for s in states]
    return json.dumps(entries, indent=4) + "\n"


# --- the one place failures become messages and exit codes ---------------------

def invoke(fn: Callable[..., int], options: GlobalOptions, /, **arguments: object) -> int:
    """Run one command function and turn whatever it raises into a message on stderr and an exit code.

    LxcriError: `lxcri: <message>`, its exit code. Ctrl-C: 130, quietly.
    A closed stdout (`lxcri list | head`): 1, quietly. Anything else is a bug in
    lxcri: `lxcri: internal error: <type>: <message>`, 1, and the traceback
    only with --debug.
    """
    try:
        return fn(options, **arguments)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return 1
    except Exception as exc:
        from lxcri.errors import LxcriError

        if isinstance(exc, LxcriError):
            report(exc.message)
            return int(exc.exit_code)
        if options.debug:
            import traceback

            traceback.print_exc()
        report(f"internal error: {type(exc).__name__}: {exc}")
        return 1


def report(message: str) -> None:
    """Print `lxcri: <message>` on stderr, folded into one line so engines and logs keep it whole."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    try:
        sys.stderr.write(f"lxcri: {line}\n")
        sys.stderr.flush()
    except OSError:  # stderr closed: nowhere left to say it
        pass


def _silence_stdout() -> None:
    # Point fd 1 at /dev/null so the interpreter's final flush does not fail
    # again and print "Exception ignored ... BrokenPipeError".
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
