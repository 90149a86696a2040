"""/proc/self/mountinfo, read and parsed the same way for everyone who asks where things are mounted.

`lxcri info` reports the cgroup mode from it and the lxc backend decides per
controller whether to write cgroup v1 or v2 keys (both through lxcri.host.cgroups).
The kernel writes a space, tab, newline and backslash in a path as an octal escape
(\\040, \\011, \\012, \\134; show_mountinfo's mangle()); parse() undoes every such escape.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List


class Mount:
    """One line of mountinfo: where (point), what part of the filesystem (root), its type
    and super options."""

    __slots__ = ("point", "root", "fstype", "options")

    def __init__(self, point: str, root: str, fstype: str, options: List[str]) -> None:
        self.point = point
        self.root = root
        self.fstype = fstype
        self.options = options

    def __repr__(self) -> str:
        return f"Mount({self.point!r}, {self.root!r}, {self.fstype!r}, {self.options!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mount) and (self.point, self.root, self.fstype, self.options) \
            == (other.point, other.root, other.fstype, other.options)


def unescape(field: str) -> str:
    """A mountinfo path field with its octal escapes (\\NNN) decoded."""
    if "\\" not in field:
        return field
    out = bytearray()
    raw = field.encode("utf-8", "surrogateescape")
    i = 0
    while i < len(raw):
        digits = raw[i + 1:i + 4]
        if raw[i] == 0x5C and len(digits) == 3 and all(0x30 <= d <= 0x37 for d in digits):
            out.append(int(digits, 8) & 0xFF)
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode("utf-8", "surrogateescape")


def parse(text: str) -> List[Mount]:
    """Every mount in mountinfo text, in order; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        mounts.append(Mount(unescape(fields[4]), unescape(fields[3]), tail[0],
                            tail[2].split(",")))
    return mounts


def read(path: str = "/proc/self/mountinfo") -> str:
    """This process's mountinfo text ("" when /proc cannot tell)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
