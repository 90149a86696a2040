"""The commands a CLI create, run or exec does not run, and what only a failure needs
(the host-limit messages, the --log file): lxcri.commands finds them here on first use,
so that the commands engines start containers with do not load their byte code.

The seams tests replace (open_runtime, read_version_info, read_features, write_spec)
stay in lxcri.commands and are called through it.
"""
from __future__ import annotations

import sys

from lxcri import commands
from lxcri.commands import GlobalOptions, _Session


def start(options: GlobalOptions, *, container_id: str) -> int:
    """Start the user process of a created container."""
    with _Session(options) as rt:
        rt.start(container_id, notify_socket=commands.systemd_env()[1])
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
                commands.report(message if listed.id in message else f"{listed.id}: {message}", options)
    return 1 if failed else 0


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
    commands.write_spec(bundle or ".", rootless)
    return 0


def features(options: GlobalOptions) -> int:
    """Print the OCI features document: what this runtime supports."""
    import json

    sys.stdout.write(json.dumps(commands.read_features(), indent=4) + "\n")
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
    info = commands.read_version_info()
    tags = info.get("features") or ()
    sys.stdout.write(
        f"lxcri version {info['lxcri']}\n"
        f"libcrun version {info['libcrun']}\n"
        f"spec: {info['spec']}\n"
        f"{' '.join(str(tag) for tag in tags)}\n"
    )
    return 0


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
