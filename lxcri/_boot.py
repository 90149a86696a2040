"""What the native `lxcri` launcher runs: `python -I -S .../lxcri/_launch.py LAUNCHER ARGS...`,
and that script calls run().

Isolated and without site processing, sys.path holds only the standard library:
_launch.py puts the site-packages holding this package (with its dependencies, a venv's)
in front, and run() makes argv[0] the launcher's path, as a console script would have it.
The script is no more than that because a script is compiled from source on every start
(for the old one, 0.7 M instructions of the 2.3 M that `lxcri state` adds to the
interpreter's own start, by callgrind), while this module's byte code is cached.

The cyclic garbage collector runs less often (see below). The command's exit skips
the interpreter's finalization (3-4 ms of a 15 ms `state` here): once stdout and
stderr are flushed, nothing of a finished command is left in Python's hands (lxcri
writes its log through raw fds and registers no atexit handler). Where a flush fails
(a closed pipe), the ordinary exit reports it.

No `from __future__ import annotations` here: on the quick commands' path that import
is a module of its own to load.
"""
import gc
import posix  # not os: the quick commands do without its 1.1-1.3 ms
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn


def run() -> "NoReturn":
    """Run the command line in sys.argv[1:] (sys.argv[0] is the launcher) and exit."""
    # A create imports ~280 KB of byte code: with the default threshold (700) the cyclic
    # collector runs about a dozen times over those imports, for garbage it hardly ever
    # finds (24 objects in one create here). A command's process is short-lived, but not
    # always (a foreground run, a monitor it forks), so the collector is made rarer rather
    # than turned off.
    gc.set_threshold(20000)
    del sys.argv[0]
    if b"LXCRI_WARMUP_PID" in posix.environ:
        from lxcri.host import warmup

        warmup.take()

    from lxcri.__main__ import main

    code = main()
    if "lxcri.host.warmup" in sys.modules:  # take() ran: the launcher made a warm-up child
        from lxcri.host import warmup

        # A command that ended before any backend ran (a refused create) still has its
        # warm-up child: end and reap it now, so that nothing of the command outlives it.
        warmup.stop()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        sys.exit(code)
    posix._exit(code)
