"""What create and run need of os and os.path, on posix alone.

`import os` costs about 1 ms of every `create` and `run` here (python3.11 -I -S:
6.5 ms without, 7.4 with, by hyperfine), most of it building the ABCs of
_collections_abc that os.environ needs. The modules on those commands' path use posix
and these instead; the rest of lxcri imports os where it needs it. Each function here
answers as its os or os.path namesake does for str paths (tests/unit/test_posixos.py
holds them to it), and os.environ, once imported, sees the same environment: it wraps
posix.environ, the dict getenv and popenv read and change.
"""
import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from os import PathLike
    from typing import Union

    PathArg = Union[str, bytes, "PathLike[str]", "PathLike[bytes]"]

_S_IFMT, _S_IFDIR, _S_IFREG, _S_IFLNK = 0o170000, 0o040000, 0o100000, 0o120000


def _text(path: "PathArg") -> str:
    """path as str: a path-like object's path; bytes decoded as os.fsdecode does."""
    value = posix.fspath(path)
    if isinstance(value, str):
        return value
    return value.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def _encoded(name: str) -> bytes:
    return name.encode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def getenv(name: str) -> "str | None":
    """os.environ.get(name)."""
    value = posix.environ.get(_encoded(name))
    if value is None:
        return None
    return value.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def popenv(name: str, default: str = "") -> str:
    """os.environ.pop(name, default): out of this process's environment, and so out of
    what it starts."""
    key = _encoded(name)
    value = posix.environ.pop(key, None)
    if value is None:
        return default
    posix.unsetenv(key)
    return value.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def join(path: "PathArg", *names: "PathArg") -> str:
    """os.path.join (bytes and path-like objects as str)."""
    path = _text(path)
    for name in map(_text, names):
        if name.startswith("/") or not path:
            path = name
        elif path.endswith("/"):
            path += name
        else:
            path += "/" + name
    return path


def dirname(path: "PathArg") -> str:
    """os.path.dirname."""
    path = _text(path)
    head = path[:path.rfind("/") + 1]
    stripped = head.rstrip("/")
    return stripped if stripped else head


def isabs(path: "PathArg") -> bool:
    return _text(path).startswith("/")


def normpath(path: "PathArg") -> str:
    """os.path.normpath: POSIX keeps exactly two leading slashes, folds more to one."""
    path = _text(path)
    if not path:
        return "."
    lead = len(path) - len(path.lstrip("/"))
    prefix = "//" if lead == 2 else "/" if lead else ""
    parts: "list[str]" = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part != ".." or (not prefix and not parts) or (parts and parts[-1] == ".."):
            parts.append(part)
        elif parts:
            parts.pop()
    return prefix + "/".join(parts) or "."


def abspath(path: "PathArg") -> str:
    """os.path.abspath."""
    path = _text(path)
    return normpath(path if isabs(path) else join(posix.getcwd(), path))


def _mode(path: "PathArg", follow: bool = True) -> int:
    """The file type bits of path, 0 where it cannot be stat'ed (as os.path's tests take
    OSError and ValueError for "no")."""
    try:
        return (posix.stat(path) if follow else posix.lstat(path)).st_mode & _S_IFMT
    except (OSError, ValueError):
        return 0


def exists(path: "PathArg") -> bool:
    return _mode(path) != 0


def lexists(path: "PathArg") -> bool:
    return _mode(path, follow=False) != 0


def isdir(path: "PathArg") -> bool:
    return _mode(path) == _S_IFDIR


def isfile(path: "PathArg") -> bool:
    return _mode(path) == _S_IFREG


def realpath(path: "PathArg") -> str:
    """os.path.realpath (not strict): every symbolic link along path resolved; a part
    that does not exist, or a loop of links, is kept as it is written."""
    path = _text(path)
    resolved, _ = _resolve("", path, {})
    return abspath(resolved)


def _split(path: str) -> "tuple[str, str]":
    """os.path.split."""
    cut = path.rfind("/") + 1
    head, tail = path[:cut], path[cut:]
    return (head.rstrip("/") or head), tail


def _resolve(base: str, rest: str, known: "dict[str, str | None]") -> "tuple[str, bool]":
    """base (resolved already) joined with the parts of rest, each link resolved; False
    where a loop of links stopped it, rest then joined as it is written. known: each
    link met so far and what it resolved to (None while it is being resolved)."""
    if isabs(rest):
        base, rest = "/", rest[1:]
    while rest:
        name, _, rest = rest.partition("/")
        if name in ("", "."):
            continue
        if name == "..":
            if not base:
                base = ".."
            else:
                base, last = _split(base)
                if last == "..":
                    base = join(base, "..", "..")
            continue
        candidate = join(base, name)
        try:
            is_link = posix.lstat(candidate).st_mode & _S_IFMT == _S_IFLNK
        except OSError:
            is_link = False
        if not is_link:
            base = candidate
            continue
        if candidate in known:
            target = known[candidate]
            if target is not None:
                base = target
                continue
            return join(candidate, rest), False  # a loop
        known[candidate] = None
        base, done = _resolve(base, posix.readlink(candidate), known)
        if not done:
            return join(base, rest), False
        known[candidate] = base
    return base, True


def makedirs(path: "PathArg", mode: int = 0o777) -> None:
    """os.makedirs(path, mode, exist_ok=True): the missing parents made with 0o777 (less
    the umask), path itself with mode."""
    path = _text(path)
    head, tail = _split(path)
    if not tail:
        head, tail = _split(head)
    if head and tail and not exists(head):
        try:
            makedirs(head)
        except FileExistsError:
            pass
        if tail == ".":
            return
    try:
        posix.mkdir(path, mode)
    except OSError:
        if not isdir(path):
            raise
