"""/proc/self/mountinfo, read once the same way for everyone who asks where cgroups live.

`lxcri info` reports the cgroup mode from it (lxcri.hostinfo), and the lxc backend
decides per controller whether to write cgroup v1 or v2 keys (lxcri.backends.lxc_config).
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Tuple

    Mount = Tuple[str, str, List[str]]  # mount point, fstype, super options


def parse(text: str) -> List[Mount]:
    """(mount point, fstype, super options) of every mount in mountinfo text."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        mounts.append((fields[4].replace("\\040", " "), tail[0], tail[2].split(",")))
    return mounts


def read() -> str:
    """This process's mountinfo text ("" when /proc cannot tell)."""
    try:
        with open("/proc/self/mountinfo") as f:
            return f.read()
    except OSError:
        return ""


def v2_controllers(mounts: List[Mount]) -> Optional[str]:
    """The cgroup.controllers text of the first cgroup2 mount; None without one, "" unreadable."""
    for point, fstype, _options in mounts:
        if fstype == "cgroup2":
            try:
                with open(os.path.join(point, "cgroup.controllers")) as f:
                    return f.read()
            except OSError:
                return ""
    return None
