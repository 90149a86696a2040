"""Validation of container ids and OCI bundles before they reach a backend.

libcrun reports a bad config.json as a terse C error, often without the file or
the field. Everything here runs first, so a mistake in user input becomes one
line that names the id, path or JSON field, says what is wrong and what to do.

The happy path must stay cheap: the CLI imports this module on every call. Only
the stdlib is imported at module level; ``jsonschema`` (about 90 ms to import)
is loaded only when a config has already failed a cheap check or libcrun has
rejected it, to explain why against the full OCI runtime-spec schema.
"""
from __future__ import annotations

import posix

from lxcri import posixos
from lxcri.errors import InvalidArgument, InvalidBundle

# No typing, dataclasses, json or re at import time: each costs milliseconds on
# every CLI call, and the CLI imports this module for validate_id.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

MAX_ID_BYTES = 1024

# The largest config.json lxcri (and, through it, libcrun) reads. Real ones are a few
# KiB, a large seccomp profile some tens of KiB; libcrun would read any size into
# memory, several times over (yajl tree, libocispec structs): 200 MB costs ~600 MB.
MAX_CONFIG_BYTES = 16 << 20

# How much of a user's id or value is echoed back: enough to recognise it,
# never so much that one error line becomes a screenful (_MAX_DETAIL_CHARS: of a
# schema error's message, lxcri.bundle_full).
_SHOWN_CHARS = 40


def _bad_id_char(ch: str) -> bool:
    """C0 and C1 control characters and any Unicode whitespace: they break state
    directory names, log lines and shell use of the id."""
    return ch.isspace() or ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F
_ID_HINT = "use letters, digits, '_', '-', '.'"

_BUNDLE_HINT = "pass --bundle DIR, a directory holding config.json and the rootfs"


def _show(value: str) -> str:
    """Quote a user-supplied string for a message, escaped and truncated."""
    if len(value) > _SHOWN_CHARS:
        return repr(value[:_SHOWN_CHARS]) + "..."
    return repr(value)


# --- container ids -----------------------------------------------------------

def _id_problem(container_id: str) -> Optional[str]:
    """Say what is wrong with an id, or None when it is acceptable."""
    if container_id == "":
        return "it must not be empty"
    if len(container_id.encode("utf-8", "surrogatepass")) > MAX_ID_BYTES:
        return f"it is longer than {MAX_ID_BYTES} bytes in UTF-8"
    # The id names a directory under the runtime's state root: a '/' or a
    # '..' could place (or delete) state outside of it.
    if "/" in container_id:
        return "it must not contain '/'"
    if container_id.startswith("."):
        # lxcri keeps its own files in <root>/.lxcri, and libcrun's list skips dot names.
        return "it must not start with '.'"
    if ".." in container_id:
        return "it must not contain '..'"
    if any(_bad_id_char(ch) for ch in container_id):
        return "it must not contain whitespace or control characters"
    return None


def validate_id(container_id: str) -> str:
    """Return ``container_id`` unchanged, or raise InvalidArgument saying why it is unusable."""
    if not isinstance(container_id, str):
        raise InvalidArgument(
            f"invalid container id {container_id!r}: it must be a str, "
            f"not {type(container_id).__name__}")
    problem = _id_problem(container_id)
    if problem is not None:
        raise InvalidArgument(
            f"invalid container id {_show(container_id)}: {problem}; {_ID_HINT}")
    return container_id


# --- bundles -----------------------------------------------------------------

class Bundle:
    """A bundle that passed validation, with every path made absolute."""

    __slots__ = ("path", "config_path", "config", "rootfs")

    def __init__(self, path: str, config_path: str, config: dict[str, Any], rootfs: str) -> None:
        self.path = path                # absolute, realpath'd bundle directory
        self.config_path = config_path  # absolute path of the config file
        self.config = config            # the parsed config.json
        self.rootfs = rootfs            # absolute path of root.path, against the bundle

    def __repr__(self) -> str:
        return f"Bundle(path={self.path!r}, config_path={self.config_path!r})"


def _bundle_dir(bundle: Optional[str]) -> str:
    shown = posixos.abspath(bundle if bundle is not None else ".")
    if not posixos.exists(shown):
        raise InvalidBundle(f"bundle {shown} does not exist: {_BUNDLE_HINT}")
    if not posixos.isdir(shown):
        raise InvalidBundle(f"bundle {shown} is not a directory: {_BUNDLE_HINT}")
    return posixos.realpath(shown)


def _too_big(config_path: str, size: int) -> InvalidBundle:
    return InvalidBundle(
        f"config file {config_path} is {_size_text(size)}, more than the "
        f"{MAX_CONFIG_BYTES >> 20} MiB lxcri reads; no OCI config needs that much: "
        "make it smaller (large annotations or hooks data belong in files)")


def _size_text(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.0f} MiB"
    return f"{size} bytes"


# Fewer open files than this and libcrun cannot set a container up: it applies
# process.rlimits to the runtime itself before cloning the container's init, then
# opens /proc, cgroup and mount files (1.8.1 and 1.21 alike). Found by trying.
MIN_NOFILE = 64


def check_config_limits(config_path: str) -> None:
    """What a config.json asks that the runtime itself cannot live with, refused before
    any backend reads it: more than MAX_CONFIG_BYTES, or an RLIMIT_NOFILE below
    MIN_NOFILE. The happy path costs one stat and one read (json is parsed only when
    the file may name RLIMIT_NOFILE: it spells it, or has a `\\u` escape, which could);
    what cannot be read is left for the reader."""
    try:
        size = posix.stat(config_path).st_size
    except (OSError, ValueError):
        return
    if size > MAX_CONFIG_BYTES:
        raise _too_big(config_path, size)
    try:
        with open(config_path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
    except OSError:
        return
    if b"RLIMIT_NOFILE" not in data and b"\\u" not in data:
        return  # a `\u` escape could spell the name, as libcrun's parser reads it
    if _nofile_plainly_enough(data):
        return  # the common case: no json import
    try:
        nofile = _rlimit_in(_parse_config(data, config_path), "RLIMIT_NOFILE")
    except TooDeep:
        raise  # libcrun would read it, and its rlimits, which lxcri then could not check
    except InvalidBundle:
        return  # not JSON: libcrun says so
    if nofile is not None and nofile < MIN_NOFILE:
        raise InvalidBundle(
            f"{config_path}: process.rlimits: RLIMIT_NOFILE {nofile} is too low: the "
            "runtime applies the container's rlimits to itself before the container "
            f"starts and needs at least {MIN_NOFILE} open files; raise soft and hard to "
            f"{MIN_NOFILE} or more")


def _nofile_plainly_enough(data: bytes) -> bool:
    """Whether data, read as bytes only, surely sets no RLIMIT_NOFILE below MIN_NOFILE and
    nests too little for the parse to fail on depth: its one mention of RLIMIT_NOFILE is
    the `type` of a flat object of plain `type`, `soft` and `hard` members, both numbers at
    least MIN_NOFILE, and no escape anywhere could spell another. False sends the check
    to the full parse (what a default bundle needs is decided here, without json: about
    90 KiB of a create's peak RSS)."""
    name = b'"RLIMIT_NOFILE"'
    if data.count(b"RLIMIT_NOFILE") != 1 or b"\\u" in data or name not in data:
        return False
    if data.count(b"[") + data.count(b"{") > 400:  # deep enough to matter: parse
        return False
    at = data.index(name)
    start, end = data.rfind(b"{", 0, at), data.find(b"}", at)
    if start < 0 or end < 0:
        return False
    body = data[start + 1:end]
    if any(c in body for c in (b"{", b"[", b"]", b"\\")):
        return False
    members: dict[bytes, bytes] = {}
    for member in body.split(b","):
        key, colon, value = member.partition(b":")
        key, value = key.strip(), value.strip()
        if not colon or key in members or key not in (b'"type"', b'"soft"', b'"hard"'):
            return False
        members[key] = value
    if members.get(b'"type"') != name:
        return False
    limits = [members.get(b'"soft"', b"0"), members.get(b'"hard"', b"0")]
    return all(v.isdigit() and len(v) < 20 and int(v) >= MIN_NOFILE for v in limits)


def _read_config(config_path: str) -> bytes:
    try:
        with open(config_path, "rb") as f:
            data = f.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise _too_big(config_path, posix.stat(config_path).st_size)
        return data
    except FileNotFoundError:
        raise InvalidBundle(
            f"config file {config_path} not found: {_BUNDLE_HINT}, "
            "or name the file with --config") from None
    except IsADirectoryError:
        raise InvalidBundle(
            f"config file {config_path} is a directory: it must be a JSON file") from None
    except OSError as e:
        raise InvalidBundle(
            f"config file {config_path} cannot be read: {e.strerror}; "
            "check its permissions", errno=e.errno) from None


class TooDeep(InvalidBundle):
    """A config.json nested deeper than Python's parser goes (libcrun's goes deeper)."""


def _parse_config(data: bytes, config_path: str) -> dict[str, Any]:
    from lxcri import jsonlite

    try:
        config = jsonlite.loads(data)
    except UnicodeDecodeError as e:
        raise InvalidBundle(
            f"{config_path} is not valid JSON: not UTF-8 text "
            f"(byte {e.start} is invalid)") from None
    except ValueError as e:  # json.JSONDecodeError
        raise InvalidBundle(
            f"{config_path} is not valid JSON: {getattr(e, 'msg', e)} "
            f"at line {getattr(e, 'lineno', '?')} column {getattr(e, 'colno', '?')}") from None
    except RecursionError:
        raise TooDeep(
            f"{config_path} nests arrays or objects deeper than lxcri reads (about "
            f"{_depth_limit()} levels); no OCI config is nested that deep: flatten it") from None
    except MemoryError:
        raise InvalidBundle(f"{config_path} is too large to parse in the memory "
                            "available") from None
    if not isinstance(config, dict):
        raise InvalidBundle(
            f"{config_path}: $: the top level must be a JSON object, "
            f"not {_json_type(config)}")
    return config


def _depth_limit() -> int:
    import sys

    return sys.getrecursionlimit()


def read_config(config_path: str) -> Optional[dict[str, Any]]:
    """The parsed config.json for an error path's explanation, or None when it cannot be
    read or parsed for any reason (too big, not JSON, nested too deeply): whatever failed
    first is reported elsewhere, and an explanation must never raise over it."""
    try:
        config = _parse_config(_read_config(config_path), config_path)
    except (InvalidBundle, OSError, ValueError, RecursionError, MemoryError):
        return None
    return config


def hooks_with_path(config_path: str, path: str) -> list[tuple[str, Optional[int]]]:
    """(kind, timeout) of each hook in config_path's `hooks` that runs `path`."""
    config = read_config(config_path)
    hooks = config.get("hooks") if config is not None else None
    if not isinstance(hooks, dict):
        return []
    found: list[tuple[str, Optional[int]]] = []
    for kind, entries in hooks.items():
        if not isinstance(entries, list):
            continue
        for entry in entries:
            if isinstance(entry, dict) and entry.get("path") == path:
                timeout = entry.get("timeout")
                found.append((str(kind), timeout if isinstance(timeout, int) else None))
    return found


def rlimit_of(config_path: str, name: str) -> Optional[int]:
    """The limit process.rlimits entry `name` (e.g. RLIMIT_NOFILE) sets: the lower of its
    soft and hard values; None when there is no such entry, or it is not numbers."""
    return _rlimit_in(read_config(config_path), name)


def _rlimit_in(config: Optional[dict[str, Any]], name: str) -> Optional[int]:
    process = config.get("process") if config is not None else None
    limits = process.get("rlimits") if isinstance(process, dict) else None
    if not isinstance(limits, list):
        return None
    for entry in limits:
        if isinstance(entry, dict) and entry.get("type") == name:
            # libcrun reads a missing soft or hard as 0; the lower one is what binds.
            values = [entry.get("soft", 0), entry.get("hard", 0)]
            if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
                return int(min(values))
            return None
    return None


def _json_type(value: Any) -> str:
    """Name a parsed JSON value's type the way the JSON spec does."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# The full checks (structure, rootfs, the OCI schema) are in lxcri.bundle_full: a
# create or run needs them only once something failed, and leaving them out of the
# CLI's path saves it about a tenth of the byte code it loads.

def check_rootfs(bundle_dir: str, config_path: str) -> None:
    """Raise InvalidBundle when the config's root.path is missing or not a directory
    (lxcri.bundle_full.check_rootfs)."""
    from lxcri import bundle_full

    bundle_full.check_rootfs(bundle_dir, config_path)


def load_bundle(bundle: Optional[str], config: str = "config.json") -> Bundle:
    """Read and check a bundle; raise InvalidBundle with a one-line reason if it is unusable
    (lxcri.bundle_full.load_bundle)."""
    from lxcri import bundle_full

    return bundle_full.load_bundle(bundle, config)


def explain_schema(config: dict[str, Any], config_path: str = "config.json") -> Optional[str]:
    """One line naming what is wrong with ``config`` by the OCI schema, or None
    (lxcri.bundle_full.explain_schema)."""
    from lxcri import bundle_full

    return bundle_full.explain_schema(config, config_path)


def explain_libcrun_rejection(bundle: Bundle, libcrun_message: str) -> str:
    """The best one-line reason for libcrun refusing ``bundle``'s config."""
    return (explain_schema(bundle.config, bundle.config_path)
            or f"{bundle.config_path}: {libcrun_message}")
