"""The answers to `state`, `kill`, `start`, `delete` and `list` that need neither libcrun nor the Runtime.

An engine runs these over and over, and most of a 15 ms `lxcri state` was loading what
the Runtime needs for every other command: libcrun and its libraries, the backend
registry, dispatch, the bundle checks. For the plain case (a crun container that its
create finished, under a usable root) lxcri.backends.crun.status reads libcrun's own
files the way libcrun does. Each function here returns None wherever the answer is not
that plain case (another backend's container, a create not finished, a corrupt or
missing file, an id or root lxcri would refuse): the CLI then runs the command the
full way (lxcri.commands), which gives the same answer in the plain case and says what
is wrong otherwise. Nothing is changed before the function is sure, so the full way
after a None never does anything twice.
"""
import posix

from lxcri.backends import BACKENDS, PRIVATE_DIR, RuntimeType
from lxcri.backends.crun import status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional

    from lxcri.state import State

_OTHER_BACKENDS = tuple(name for name in BACKENDS if name != RuntimeType.CRUN)
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


def usable_root(root: str) -> "Optional[str]":
    """The root, when it is absolute and normalized (what engines pass; anything else is
    left to the Runtime's os.path.abspath) and lxcri.runtime would take it as it is: a
    directory that is not / (directly or through symlinks); None otherwise."""
    path = root.rstrip("/")
    if (not root.startswith("/") or not path or "//" in path or "/./" in path + "/"
            or "/../" in path + "/"):
        return None
    try:
        st, top = posix.stat(path), posix.stat("/")
    except OSError:
        return None
    if st.st_mode & 0o170000 != 0o040000 or (st.st_dev, st.st_ino) == (top.st_dev, top.st_ino):
        return None
    return path


def plain_id(id: str) -> bool:
    """An id that lxcri.bundle.validate_id takes: a subset of those it takes."""
    return (0 < len(id) <= 256 and not id.startswith(".") and ".." not in id
            and all(ch in _ID_CHARS for ch in id))


def _record(root: str, id: str) -> "Optional[bytes]":
    try:
        with open(f"{root}/{PRIVATE_DIR}/owners/{id}", "rb") as f:
            return f.read(1 << 16)
    except FileNotFoundError:
        return b""
    except OSError:
        return None


def owned_by_crun(root: str, id: str) -> bool:
    """Whether the Runtime would hand `id` to the crun backend: its record names crun,
    or names no backend (lxcri.dispatch.Owners.get)."""
    data = _record(root, id)
    if data is None:
        return False
    first = data.split(b"\n", 1)[0].strip()
    return first.decode("ascii", "replace") not in _OTHER_BACKENDS


def state_text(root: str, id: str) -> "Optional[str]":
    """What `lxcri state ID` prints."""
    path = usable_root(root)
    if path is None or not plain_id(id) or not owned_by_crun(path, id):
        return None
    doc = status.state_doc(path, id)
    return None if doc is None else status.state_text(doc)


def kill(root: str, id: str, signal: str) -> bool:
    """`lxcri kill ID SIGNAL`, done (True) or left to the full way (False, nothing sent)."""
    from lxcri import signals

    number = signals.number(signal.strip())
    path = usable_root(root)
    if number is None or path is None or not plain_id(id) or not owned_by_crun(path, id):
        return False
    return status.kill(path, id, number)


def start(root: str, id: str) -> bool:
    """`lxcri start ID`, done (True) or left to the full way (False, nothing done)."""
    path = usable_root(root)
    if path is None or not plain_id(id) or not owned_by_crun(path, id):
        return False
    return status.start(path, id)


def _record_facts(root: str, id: str) -> "Optional[Dict[str, str]]":
    """The facts of id's record when it is a crun container whose create finished."""
    data = _record(root, id)
    if not data:
        return None
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return None
    if lines[0].strip() != RuntimeType.CRUN:
        return None
    facts = dict(line.partition("=")[::2] for line in lines[1:] if line)
    return facts if facts.get("phase", "created") == "created" else None


def delete(root: str, id: str, force: bool) -> bool:
    """`lxcri delete [--force] ID` of a crun container whose record names its cgroups (made
    by cgroupfs, none of them there before), done (True) or left to the full way."""
    path = usable_root(root)
    if path is None or not plain_id(id):
        return False
    facts = _record_facts(path, id)
    if facts is None or facts.get("cgroup_old") or any(
            "%" in v for v in facts.values()):  # an escaped value: leave it to lxcri.dispatch
        return False
    dirs = [d for d in facts.get("cgroup_dirs", "").split("\t") if d]
    if not status.delete(path, id, dirs, force):
        return False
    from lxcri import records

    records.release(f"{path}/{PRIVATE_DIR}/owners", id)
    return True


def states(root: str) -> "Optional[List[State]]":
    """What `lxcri list` lists, sorted by id: only when every container under root is a
    crun container with a finished create, else None."""
    from lxcri.state import State

    path = usable_root(root)
    if path is None:
        return None
    ids = status.container_ids(path)
    if ids is None:
        return None
    private = f"{path}/{PRIVATE_DIR}"
    for name in _OTHER_BACKENDS:  # another backend's containers: the Runtime lists them
        try:
            if any(not n.startswith(".") for n in posix.listdir(f"{private}/{name}")):
                return None
        except FileNotFoundError:
            continue
        except OSError:
            return None
    try:
        recorded = [n for n in posix.listdir(f"{private}/owners")
                    if not n.startswith(".")]
    except FileNotFoundError:
        recorded = []
    except OSError:
        return None
    if not set(recorded) <= set(ids):  # a record alone: an unfinished or broken create
        return None
    found = []
    for id in ids:
        if not plain_id(id) or not owned_by_crun(path, id):
            return None
        doc = status.state_doc(path, id)
        if doc is None:
            return None
        found.append(State.from_dict(doc, RuntimeType.CRUN))
    return sorted(found, key=lambda s: s.id)
