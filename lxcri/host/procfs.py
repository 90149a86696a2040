"""What the backends read about processes from /proc: start times, cgroups, mapped files.

A pid alone names a process only until it exits and the number is reused; a pid
with its start time (stat field 22) names one process for good.
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


def read_text(path: str) -> "Optional[str]":
    """A file's text; None when it (or a directory above it) does not exist."""
    try:
        with open(path) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def starttime(pid: int) -> "Optional[str]":
    """The process's start time in clock ticks (stat field 22); None when it is gone or a
    zombie (it has exited already)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data.rsplit(b")", 1)[-1].split()  # the name in parentheses may hold anything
    if len(fields) < 20 or fields[0] == b"Z":
        return None
    return fields[19].decode()


def cgroup(pid: "int | str" = "self") -> str:
    """/proc/PID/cgroup text ("" when the process is gone)."""
    return read_text(f"/proc/{pid}/cgroup") or ""


def maps(pid: "int | str" = "self") -> "Optional[str]":
    """/proc/PID/maps text; None when unreadable."""
    try:
        with open(f"/proc/{pid}/maps") as f:
            return f.read()
    except OSError:
        return None


def cap_last_cap() -> "Optional[int]":
    """The highest capability number this kernel knows; None when /proc cannot tell."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None
