"""The bodies of lxcri's commands, shared by both parsers: call the Runtime, print, return an exit code.

Nothing here parses arguments or does container work. Every command function
takes the global options first and its own arguments as keywords, with no
defaults of their own: the grammar (lxcri.cli.grammar) states every default and
each parser passes every value, so the parity test can compare the two parsers
call for call.

Start-up time is the budget of this module: an engine runs `lxcri state` and
`lxcri kill` over and over. Only `sys` is imported at module level; the runtime,
the error classes, `json`, `re`, `time` and `traceback` are imported where they
are used, `json` only by what reads or prints JSON.
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
    from lxcri.runtime import version_info

    return version_info()


def read_features() -> dict[str, Any]:
    """The OCI features document of this runtime."""
    from lxcri.runtime import features

    return features()


def write_spec(bundle_dir: str, rootless: bool) -> str:
    """Write a default config.json into bundle_dir and return its path."""
    from lxcri.runtime import write_spec as write

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


# --- the commands -------------------------------------------------------------

def create(options: GlobalOptions, *, container_id: str, bundle: str | None, config: str,
           pid_file: str | None, console_socket: str | None, preserve_fds: int, no_pivot: bool,
           no_new_keyring: bool, no_subreaper: bool, runtime: str | None) -> int:
    """Create a container from a bundle; its process waits for `start`.

    runtime: the backend (crun, runc, lxc, vm); None lets the routing rules choose.
    """
    from lxcri.options import CreateOptions

    process = CreateOptions(bundle, config, pid_file=pid_file, console_socket=console_socket,
                            preserve_fds=preserve_fds, no_pivot=no_pivot, no_new_keyring=no_new_keyring,
                            no_subreaper=no_subreaper)
    _flush_stdio()
    with _Session(options) as rt:
        rt.create_container(container_id, options=process, runtime=runtime)
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


def kill(options: GlobalOptions, *, container_id: str, signal: str, all_processes: bool) -> int:
    """Send a signal, by name or number, to a container's init process, or with all_processes to every process in it."""
    with _Session(options) as rt:
        rt.kill(container_id, signal, all=all_processes)
    return 0


def delete(options: GlobalOptions, *, container_id: str, force: bool, regex: bool) -> int:
    """Delete a container; with force, kill it first if it still runs.

    With regex, container_id is a pattern: every container whose id it matches
    anywhere (re.search, as crun's regexec) is deleted. A failure on one id is
    reported and the others are still deleted; the exit code is then 1.
    """
    if not regex:
        with _Session(options) as rt:
            rt.delete(container_id, force=force)
        return 0

    import re

    from lxcri.errors import InvalidArgument, LxcriError

    try:
        pattern = re.compile(container_id)
    except re.error as exc:
        raise InvalidArgument(f"invalid regular expression '{container_id}': {exc}") from None
    failed = False
    with _Session(options) as rt:
        for listed in rt.list():
            if not pattern.search(listed.id):
                continue
            try:
                rt.delete(listed.id, force=force)
            except LxcriError as exc:
                failed = True
                message = exc.message
                report(message if listed.id in message else f"{listed.id}: {message}", options)
    return 1 if failed else 0


def run(options: GlobalOptions, *, container_id: str, bundle: str | None, config: str,
        pid_file: str | None, console_socket: str | None, preserve_fds: int, no_pivot: bool,
        no_new_keyring: bool, no_subreaper: bool, detach: bool, keep: bool, runtime: str | None) -> int:
    """Create and start a container; in the foreground, exit as the container did."""
    from lxcri.options import RunOptions

    process = RunOptions(bundle, config, pid_file=pid_file, detach=detach, keep=keep,
                         console_socket=console_socket, preserve_fds=preserve_fds, no_pivot=no_pivot,
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
                       caps=caps, no_new_privs=no_new_privs, preserve_fds=preserve_fds)
    _flush_stdio()
    with _Session(options) as rt:
        return rt.exec(container_id, what)


def list_containers(options: GlobalOptions, *, output_format: str, quiet: bool) -> int:
    """Print the containers under the root: a table, JSON, or ids only."""
    from lxcri.listing import format_json_list, format_table

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


def ps(options: GlobalOptions, *, container_id: str, output_format: str) -> int:
    """Print the pids of the processes in a container: a `PID` column, or a JSON array (what containerd reads)."""
    with _Session(options) as rt:
        pids = rt.ps(container_id)
    if output_format == "json":
        import json

        text = json.dumps([int(pid) for pid in pids]) + "\n"
    else:
        text = "PID\n" + "".join(f"{pid}\n" for pid in pids)
    sys.stdout.write(text)
    return 0


def pause(options: GlobalOptions, *, container_id: str) -> int:
    """Freeze every process of a container."""
    with _Session(options) as rt:
        rt.pause(container_id)
    return 0


def resume(options: GlobalOptions, *, container_id: str) -> int:
    """Thaw a paused container."""
    with _Session(options) as rt:
        rt.resume(container_id)
    return 0


def update(options: GlobalOptions, *, container_id: str, resources: str | None, memory: str | None,
           memory_reservation: str | None, memory_swap: str | None, cpu_shares: str | None,
           cpu_quota: str | None, cpu_period: str | None, cpu_rt_runtime: str | None,
           cpu_rt_period: str | None, cpuset_cpus: str | None, cpuset_mems: str | None,
           pids_limit: str | None, blkio_weight: str | None) -> int:
    """Change a running container's resource limits: a LinuxResources JSON (a file, or `-` for stdin), flags over it.

    Flag values arrive as text from both parsers and are converted here, so
    that a bad value is one error message whichever parser read it (lxcri.resources).
    """
    from lxcri import resources as resources_mod

    document = resources_mod.document(
        resources, memory=memory, memory_reservation=memory_reservation,
        memory_swap=memory_swap, cpu_shares=cpu_shares, cpu_quota=cpu_quota,
        cpu_period=cpu_period, cpu_rt_runtime=cpu_rt_runtime, cpu_rt_period=cpu_rt_period,
        cpuset_cpus=cpuset_cpus, cpuset_mems=cpuset_mems, pids_limit=pids_limit,
        blkio_weight=blkio_weight)
    with _Session(options) as rt:
        rt.update(container_id, document)
    return 0


def spec(options: GlobalOptions, *, bundle: str | None, rootless: bool) -> int:
    """Write a default config.json into the bundle directory (the current one by default)."""
    write_spec(bundle or ".", rootless)
    return 0


def features(options: GlobalOptions) -> int:
    """Print the OCI features document: what this runtime supports."""
    import json

    sys.stdout.write(json.dumps(read_features(), indent=4) + "\n")
    return 0


def info(options: GlobalOptions, *, output_format: str) -> int:
    """Print what lxcri can do here: versions, backends (available or why not), cgroup mode,
    the config file and its routing rules, the state root."""
    with _Session(options) as rt:
        data = rt.info()
    if output_format == "json":
        import json

        sys.stdout.write(json.dumps(data, indent=4) + "\n")
    else:
        from lxcri.info import format_text

        sys.stdout.write(format_text(data))
    return 0


def version(options: GlobalOptions) -> int:
    """Print the versions of lxcri, libcrun and the OCI spec, and libcrun's features."""
    info = read_version_info()
    tags = info.get("features") or ()
    sys.stdout.write(
        f"lxcri version {info['lxcri']}\n"
        f"libcrun version {info['libcrun']}\n"
        f"spec: {info['spec']}\n"
        f"{' '.join(str(tag) for tag in tags)}\n"
    )
    return 0


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
        _silence_stdout()
        return 1
    except Exception as exc:
        from lxcri.errors import LxcriError

        if isinstance(exc, LxcriError):
            report(exc.message, options, to_stderr=not exc.shown)
            return int(exc.exit_code)
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


# errno values (Linux) of the limits a host imposes on the runtime itself.
_ENOSPC, _EDQUOT, _EMFILE, _ENFILE, _ENOMEM, _EROFS = 28, 122, 24, 23, 12, 30


def host_limit_message(exc: BaseException, options: GlobalOptions) -> str | None:
    """One line for a limit lxcri itself ran into (a full disk, no file descriptors or
    memory left, a read-only state root), wherever in lxcri it surfaced; None when exc
    is something else (a bug: the caller reports it as an internal error)."""
    if isinstance(exc, MemoryError):
        return "out of memory: lxcri could not allocate what this command needs"
    if isinstance(exc, RecursionError):
        return ("a document lxcri read is nested too deeply to process: no OCI config or "
                "state file is nested that deep; check the files this command reads")
    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (_ENOSPC, _EDQUOT):
        what = "no space left on device" if exc.errno == _ENOSPC else "disk quota exceeded"
        return (f"{what}{where} while writing state under {options.root}: free space there, "
                "or use another --root")
    if exc.errno == _EROFS:
        return (f"read-only file system{where}: the state root {options.root} must be "
                "writable; use another --root")
    if exc.errno in (_EMFILE, _ENFILE):
        scope = "the system" if exc.errno == _ENFILE else "lxcri"
        return (f"too many open files{where}: {scope} ran out of file descriptors; raise the "
                "open-files limit (`ulimit -n`, LimitNOFILE=) of whatever starts lxcri")
    if exc.errno == _ENOMEM:
        return f"out of memory{where}"
    return None


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
        _append_to_log(options.log, options.log_format, line)
    if not to_stderr:
        return
    try:
        sys.stderr.write(f"lxcri: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):  # stderr closed or gone: nowhere left to say it
        pass


# crun's other log targets; libcrun writes to them, there is no file to append to.
_NON_FILE_LOGS = ("syslog:", "journald:")


def _append_to_log(path: str, log_format: str, line: str) -> None:
    import os
    import time

    if path.startswith(_NON_FILE_LOGS):
        return
    now = time.time_ns()
    # RFC 3339 in UTC with microseconds, as crun stamps its log lines.
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now // 1_000_000_000))
    stamp += f".{now // 1000 % 1_000_000:06d}Z"
    if log_format == "json":
        import json

        entry = json.dumps({"msg": line, "level": "error", "time": stamp}) + "\n"
    else:
        entry = f"{stamp} error: {line}\n"
    try:
        # One write on an O_APPEND descriptor: lines from concurrent commands do not interleave.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, entry.encode("utf-8", "backslashreplace"))
        finally:
            os.close(fd)
    except OSError:
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
