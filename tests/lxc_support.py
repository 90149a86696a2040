"""Helpers for the lxc backend's tests: a command runner, bundles on a private rootfs, checks.

`LxcCli` runs the installed `lxcri --root R create|run --runtime lxc ...`; other
commands go plain: they follow the ownership record to the lxc backend.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Dict, List, Optional

from support import Cli


def lxc_unavailable_reason() -> Optional[str]:
    """Why the liblxc driver cannot run here, or None."""
    try:
        from lxcri.backends.lxc import liblxc as lxc_liblxc
    except ImportError as exc:
        return f"lxcri has no lxc backend: {exc}"
    ok, why = lxc_liblxc.availability({})
    return None if ok else why


class LxcCli(Cli):
    """support.Cli whose create and run go to the lxc backend (`--runtime lxc`)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, runtime="lxc")


def lxc_dir(root: Path, id: str) -> Path:
    return root / ".lxcri" / "lxc" / id


def tree_digest(top: Path) -> Dict[str, str]:
    """Every entry under top: type, mode, owner, and content hash or link target."""
    found: Dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            desc = f"{stat.S_IFMT(st.st_mode):o} {stat.S_IMODE(st.st_mode):o} {st.st_uid}:{st.st_gid}"
            if stat.S_ISLNK(st.st_mode):
                desc += " -> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    desc += " " + hashlib.sha256(f.read()).hexdigest()
            found[rel] = desc
    return found


def all_cgroups_named(id: str) -> List[str]:
    """cgroup directories on every hierarchy (v1 and v2) whose name ends with the id."""
    found = []
    for dirpath, dirnames, _files in os.walk("/sys/fs/cgroup"):
        if dirpath.count("/") > 8:
            dirnames[:] = []
            continue
        if os.path.basename(dirpath).endswith(id):
            found.append(dirpath)
    return found


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# --- the stand-in command line (see the module docstring) ---------------------------------
