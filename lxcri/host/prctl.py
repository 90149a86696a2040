"""prctl(2) from Python, for a process that has not loaded libcrun (whose shim has its own).

Only isolation's helper needs it: it becomes a child subreaper, so that the
containers its forked children start are reaped by it and not by init.
"""
from __future__ import annotations

PR_SET_CHILD_SUBREAPER = 36


def set_child_subreaper(on: bool = True) -> None:
    """Make this process a child subreaper (or stop being one); OSError on failure."""
    import ctypes
    import os

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0, 0, 0, 0) < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
