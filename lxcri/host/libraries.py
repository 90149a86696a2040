"""The libraries this process loaded: the libcrun in use, what it links, and which of them the wheel carries.

`lxcri info` reports it so that a user can tell lxcri's bundled libcrun from a
host's, and CI can prove which copy a built wheel loads (tests/integration/test_wheel.py).
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional

# auditwheel renames each library it grafts into lxcri.libs/ to NAME-<8 hex>.so.VERSION
# (the hash of its content), and rewrites DT_NEEDED to match.
_GRAFT_HASH_LEN = 8


def library_name(file_name: str) -> str:
    """A library's name without the hash auditwheel gives a grafted copy:
    libyajl-86865dfa.so.2.1.0 -> libyajl.so.2.1.0 (other names unchanged)."""
    stem, sep, rest = file_name.partition(".so")
    head, dash, digest = stem.rpartition("-")
    if sep and dash and len(digest) == _GRAFT_HASH_LEN and all(
            c in "0123456789abcdef" for c in digest):
        return head + sep + rest
    return file_name


def elf_needed(path: str) -> Optional[List[str]]:
    """The DT_NEEDED entries of an ELF file, in order; None when it is not a readable ELF."""
    import struct

    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
            return None
        e = "<" if data[5] == 1 else ">"
        if data[4] == 2:  # ELFCLASS64
            (shoff,), (shentsize, shnum) = (struct.unpack_from(e + "Q", data, 0x28),
                                            struct.unpack_from(e + "HH", data, 0x3A))
            sh_fmt, dyn_fmt = e + "IIQQQQIIQQ", e + "qQ"
        else:
            (shoff,), (shentsize, shnum) = (struct.unpack_from(e + "I", data, 0x20),
                                            struct.unpack_from(e + "HH", data, 0x2E))
            sh_fmt, dyn_fmt = e + "IIIIIIIIII", e + "iI"
        # section header: name, type, flags, addr, offset, size, link, ...
        sections = [struct.unpack_from(sh_fmt, data, shoff + i * shentsize) for i in range(shnum)]
        dynamic = next((sh for sh in sections if sh[1] == 6), None)  # SHT_DYNAMIC
        if dynamic is None:
            return []
        strings = sections[dynamic[6]][4]
        needed, step = [], struct.calcsize(dyn_fmt)
        for off in range(dynamic[4], dynamic[4] + dynamic[5] - step + 1, step):
            tag, value = struct.unpack_from(dyn_fmt, data, off)
            if tag == 0:  # DT_NULL
                break
            if tag == 1:  # DT_NEEDED
                start = strings + value
                needed.append(data[start:data.index(b"\0", start)].decode())
        return needed
    except (OSError, struct.error, IndexError, ValueError, UnicodeDecodeError):
        return None


def mapped_files(maps: str) -> List[str]:
    """The files mapped into a process, from /proc/PID/maps text, in first-seen order."""
    seen: Dict[str, None] = {}
    for line in maps.splitlines():
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            seen.setdefault(fields[5].strip(), None)
    return list(seen)


def libcrun_libraries(maps: Optional[str] = None,
                      package_dir: Optional[str] = None) -> Optional[Dict[str, Any]]:
    """The libcrun loaded into this process and the libraries it links, resolved to the
    files the dynamic loader mapped; each marked `bundled` when it is one the lxcri wheel
    carries (lxcri/ or, grafted by auditwheel, lxcri.libs/) rather than the host's.
    None when no libcrun is loaded. maps: /proc/self/maps text (None: read it)."""
    if maps is None:
        from lxcri.host import procfs

        maps = procfs.maps()
        if maps is None:
            return None
    if package_dir is None:  # lxcri/, this module's package's parent
        package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    carried = (package_dir, package_dir + ".libs")
    files = mapped_files(maps)
    libcrun = next((f for f in files
                    if library_name(os.path.basename(f)).startswith("libcrun.so")), None)
    if libcrun is None:
        return None

    def describe(name: str, path: Optional[str]) -> Dict[str, Any]:
        return {"name": library_name(os.path.basename(path or name)), "path": path,
                "bundled": path is not None and os.path.dirname(path) in carried}

    links = []
    for needed in elf_needed(libcrun) or []:
        # The loader maps the real file: the soname libyajl.so.2 shows as libyajl.so.2.1.0.
        path = next((f for f in files if os.path.basename(f) == needed
                     or os.path.basename(f).startswith(needed + ".")), None)
        links.append(describe(needed, path))
    return {**describe("libcrun.so.0", libcrun), "links": links}
