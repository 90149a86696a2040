"""The byte-code pack: lxcri's cached byte code in one file, for the native launcher's start.

A command started by the launcher imports 13 (`state`) to 35 (`create`) of lxcri's modules.
Through the import system each costs about 80 k instructions beyond its own byte code
(the path finder, the loader's file handling and pyc checks, run as Python code), about
1 M of the 6.8 M that `lxcri state` adds to the interpreter's own start here. The pack
holds the byte code of the package's modules, copied from the pyc files Python (or
compileall) wrote, and lxcri._boot serves imports of lxcri's modules from it with a
finder of its own that does no more than stat the source, read the code and run it.

Every module is checked as Python checks a pyc (the source's mtime and size), so an
edited or reinstalled source is never run from a stale copy: a module that does not match
is imported the ordinary way, and the pack is rebuilt when the command ends. Nothing
depends on the pack being there: without it (a read-only install) lxcri imports as usual.

File format (all integers little-endian):
  b"LXCRIPK1", u64 length of the index, the index (marshal), the code (marshal each).
  The index: (MAGIC_NUMBER, {name: (is_package, offset, length, source, mtime, size,
  pyc)}, (names of modules that have no usable pyc, sorted)); offsets are from the end
  of the index.
"""
import marshal
import os
import sys

from lxcri._boot import PACK_SIGNATURE as SIGNATURE
from lxcri._boot import pack_path as _pack_path_in

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional, Tuple

    Entry = Tuple[bool, int, int, str, int, int, str]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _external() -> "object":
    return sys.modules["_frozen_importlib_external"]


def pack_path(package_dir: str = _PACKAGE_DIR, optimize: "Optional[int]" = None) -> str:
    """Where the pack for this interpreter and optimization level lives (beside the pycs)."""
    return _pack_path_in(package_dir, sys.flags.optimize if optimize is None else optimize)


def _modules(package_dir: str) -> "List[Tuple[str, str, bool]]":
    """(module name, source path, is a package) of every module under package_dir."""
    top = os.path.basename(package_dir)
    found = []
    for dirpath, dirnames, filenames in os.walk(package_dir):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__"
                             and os.path.isfile(os.path.join(dirpath, d, "__init__.py")))
        rel = os.path.relpath(dirpath, package_dir)
        prefix = top if rel == "." else f"{top}.{rel.replace(os.sep, '.')}"
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            is_package = name == "__init__.py"
            module = prefix if is_package else f"{prefix}.{name[:-3]}"
            found.append((module, os.path.join(dirpath, name), is_package))
    return found


def _code_of(source: str, optimize: int) -> "Optional[Tuple[bytes, int, int, str]]":
    """(marshalled code, mtime, size, pyc path) from source's pyc for `optimize` where
    that pyc is one Python would use (its magic, timestamp-based, matching the source)."""
    ext = _external()
    pyc = ext.cache_from_source(source, optimization="" if optimize == 0 else optimize)  # type: ignore[attr-defined]
    try:
        with open(pyc, "rb") as fh:
            data = fh.read()
        st = os.stat(source)
    except OSError:
        return None
    if len(data) < 16 or data[:4] != ext.MAGIC_NUMBER:  # type: ignore[attr-defined]
        return None
    flags = int.from_bytes(data[4:8], "little")
    mtime = int.from_bytes(data[8:12], "little")
    size = int.from_bytes(data[12:16], "little")
    if flags != 0 or mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF:
        return None
    return data[16:], mtime, size, pyc


def build(package_dir: str = _PACKAGE_DIR, optimize: "Optional[int]" = None) -> "Optional[str]":
    """Write the pack of package_dir's modules for this interpreter (and the optimization
    level, by default this process's), from their pyc files; the path written, or None
    where it cannot be written (a read-only install). Atomic: a reader sees the old
    pack or the new one."""
    level = sys.flags.optimize if optimize is None else optimize
    target = pack_path(package_dir, level)
    index: "Dict[str, Entry]" = {}
    missing: "List[str]" = []
    chunks: "List[bytes]" = []
    offset = 0
    for module, source, is_package in _modules(package_dir):
        got = _code_of(source, level)
        if got is None:
            missing.append(module)
            continue
        code, mtime, size, pyc = got
        index[module] = (is_package, offset, len(code), source, mtime, size, pyc)
        chunks.append(code)
        offset += len(code)
    head = marshal.dumps((_external().MAGIC_NUMBER, index, tuple(missing)))  # type: ignore[attr-defined]
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(SIGNATURE + len(head).to_bytes(8, "little") + head)
            fh.writelines(chunks)
        os.replace(tmp, target)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        return None
    return target


if __name__ == "__main__":
    # `python -I [-OO] -m lxcri._pack`: the pack for that interpreter and level.
    written = build()
    if written is None:
        sys.exit(f"lxcri: cannot write the byte-code pack {pack_path()}: is {_PACKAGE_DIR} "
                 "writable?")
    print(written)
