"""What the native `lxcri` launcher runs: `python -I -S .../lxcri/_launch.py LAUNCHER ARGS...`,
and that script calls run(); or, where this module's byte code is fresh, the launcher
runs that as the script, which does the same (the end of this file).

Isolated and without site processing, sys.path holds only the standard library:
_launch.py adds the site-packages holding this package (with its dependencies, a venv's)
after it, where site processing puts it (in front, it would be listed, ~100 entries, on
the first import of a standard module not loaded yet, such as _json), and run() makes
argv[0] the launcher's path, as a console script would have it.
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
import marshal
import posix  # not os: the quick commands do without its 1.1-1.3 ms
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, NoReturn, Optional, Tuple

PACK_SIGNATURE = b"LXCRIPK1"  # the byte-code pack's first bytes (lxcri._pack writes it)
# This module's directory, also where the launcher runs its byte code, from __pycache__,
# as the script (see the end).
_PACKAGE_DIR = __file__.rpartition("/")[0].removesuffix("/__pycache__")


def pack_path(package_dir: str, optimize: int) -> str:
    """Where the byte-code pack of package_dir for this interpreter and optimization
    level lives: beside the pycs."""
    opt = f".opt-{optimize}" if optimize else ""
    return f"{package_dir}/__pycache__/lxcri-pack.{sys.implementation.cache_tag}{opt}.bin"


class PackFinder:
    """Imports lxcri's modules from the byte-code pack (lxcri._pack), each only where its
    source still has the mtime and size its pyc was made from; anything else (another
    package, a module the pack lacks or has stale) is left to the ordinary finders; what
    missed is noted for wants_rebuild. The file is opened per module, so no fd of it is
    open while a command runs."""

    def __init__(self, path: str, index: "Dict[str, Tuple[Any, ...]]", start: int,
                 missing: "Tuple[str, ...]") -> None:
        self.path = path
        self.index = index
        self.start = start
        self.missing = missing
        self.stale = False
        self.unknown: "list[str]" = []  # the package's names asked for that it lacks
        # The package the pack is of (lxcri): its modules are the ones that count.
        self.prefix = f"{min(index, key=len, default='lxcri')}."

    @classmethod
    def open(cls, path: str) -> "Optional[PackFinder]":
        """The finder of the pack at path; None where there is none, or not one this
        interpreter wrote (its magic number)."""
        try:
            fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
        except OSError:
            return None
        try:
            lead = posix.read(fd, 16)
            if len(lead) != 16 or lead[:8] != PACK_SIGNATURE:
                return None
            length = int.from_bytes(lead[8:], "little")
            magic, index, missing = marshal.loads(posix.read(fd, length))
        except (OSError, ValueError, EOFError, TypeError):
            return None
        finally:
            posix.close(fd)
        if magic != sys.modules["_frozen_importlib_external"].MAGIC_NUMBER:
            return None
        return cls(path, index, 16 + length, missing)

    def find_spec(self, name: str, path: "Any" = None, target: "Any" = None) -> "Any":
        entry = self.index.get(name)
        if entry is None:
            if name.startswith(self.prefix) and name not in self.missing:
                self.unknown.append(name)
            return None
        is_package, offset, length, source, mtime, size, pyc = entry
        try:
            st = posix.stat(source)
            if int(st.st_mtime) & 0xFFFFFFFF != mtime or st.st_size & 0xFFFFFFFF != size:
                self.stale = True
                return None
            fd = posix.open(self.path, posix.O_RDONLY | posix.O_CLOEXEC)
            try:
                data = posix.pread(fd, length, self.start + offset)
            finally:
                posix.close(fd)
            code = marshal.loads(data)
        except (OSError, ValueError, EOFError, TypeError):
            self.stale = True
            return None
        sys.modules["_imp"]._fix_co_filename(code, source)
        spec = sys.modules["_frozen_importlib"].ModuleSpec(
            name, self, origin=source, loader_state=code, is_package=is_package)
        spec.has_location = True
        spec.cached = pyc
        if is_package:
            spec.submodule_search_locations = [source.rpartition("/")[0]]
        return spec

    def create_module(self, spec: "Any") -> None:
        return None

    def exec_module(self, module: "Any") -> None:
        exec(module.__spec__.loader_state, module.__dict__)

    def wants_rebuild(self) -> bool:
        """Whether an import missed the pack: a stale module, or one of the package's
        source modules that the pack neither holds nor knows to lack (not its
        extension modules, which no pack holds)."""
        return self.stale or any(
            str(getattr(sys.modules.get(name), "__file__", "")).endswith(".py")
            for name in self.unknown)


def _pack_path() -> str:
    """This package's pack for this process's optimization level."""
    return pack_path(_PACKAGE_DIR, sys.flags.optimize)


def use_pack() -> "Optional[PackFinder]":
    """Serve lxcri's imports from the byte-code pack, where there is one."""
    finder = PackFinder.open(_pack_path())
    if finder is not None:
        sys.meta_path.insert(0, finder)
    return finder


def refresh_pack(finder: "Optional[PackFinder]") -> None:
    """Rebuild the pack when it is missing or an import missed it, where the package's
    __pycache__ is writable (a rebuild costs a few ms, once)."""
    if finder is not None and not finder.wants_rebuild():
        return
    if not posix.access(f"{_PACKAGE_DIR}/__pycache__", posix.W_OK):
        return
    from lxcri import _pack

    _pack.build()


def run() -> "NoReturn":
    """Run the command line in sys.argv[1:] (sys.argv[0] is the launcher) and exit."""
    # A create imports ~280 KB of byte code: with the default threshold (700) the cyclic
    # collector runs about a dozen times over those imports, for garbage it hardly ever
    # finds (24 objects in one create here). A command's process is short-lived, but not
    # always (a foreground run, a monitor it forks), so the collector is made rarer rather
    # than turned off.
    gc.set_threshold(20000)
    del sys.argv[0]
    if "lxcri_lc_all" in sys._xoptions:
        # The launcher set LC_ALL=C for the interpreter's start only (launcher/lxcri.c).
        posix.unsetenv("LC_ALL")
        posix.environ.pop(b"LC_ALL", None)
        if "os" in sys.modules:
            sys.modules["os"].environ.pop("LC_ALL", None)
    pack = use_pack()
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
    refresh_pack(pack)
    posix._exit(code)


if __name__ == "__main__":
    # The launcher ran this module's byte code as the script in place of _launch.py
    # (launcher/lxcri.c, boot_byte_code), and this is what _launch.py does: lxcri's
    # site-packages after the standard library, then the command. lxcri itself then
    # comes from the pack.
    sys.path.append(_PACKAGE_DIR.rpartition("/")[0])
    run()
