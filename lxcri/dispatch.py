"""Which backend runs a container: the routing rule for create/run, ownership for the rest.

Choosing a backend for create and run, first match wins:
  1. `--runtime NAME` (or $LXCRI_RUNTIME),
  2. the annotation `lxcri.runtime` in the bundle's config.json,
  3. the [[routing]] rules of lxcri.toml, in order,
  4. the built-in rule: ids `lxc-*` go to lxc,
  5. lxcri.toml's default_runtime,
  6. crun.

Create records, atomically and under lxcri's root, which backend owns the id
(`<root>/.lxcri/owners/<id>`); every later command goes to that owner whatever the
rules say by then. A container without a record is crun's: that is how lxcri,
and crun itself, kept containers in the root before records existed.

Fallback: when the embedded crun cannot load (lxcri._crun or libcrun.so.0 missing
or broken), crun's containers go to the crun binary (same state format, same
root), else -- for a container not explicitly asked to run on crun -- new ones go to
runc; one warning line says so.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri.backends import BACKENDS, PRIVATE_DIR, RuntimeType, backend_root
from lxcri.errors import ContainerExists, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

    from lxcri.config import Config

ENV_RUNTIME = "LXCRI_RUNTIME"
ANNOTATION = "lxcri.runtime"
_ANNOTATION_BYTES = b'"' + ANNOTATION.encode() + b'"'


def check_runtime_name(name: str, source: str) -> str:
    if name not in BACKENDS:
        raise InvalidArgument(f"unknown runtime {name!r} (from {source}): use one of "
                              f"{', '.join(RuntimeType.ALL)}")
    return name


class Choice:
    """The backend chosen for a new container, and why (for messages and `info`)."""

    __slots__ = ("runtime", "reason", "explicit")

    def __init__(self, runtime: str, reason: str, explicit: bool = False) -> None:
        self.runtime = runtime
        self.reason = reason
        self.explicit = explicit  # asked for by name: no fallback to another backend

    def __repr__(self) -> str:
        return f"Choice({self.runtime!r}, {self.reason!r}, explicit={self.explicit})"


def read_annotations(config_path: str, needed: bool) -> Dict[str, str]:
    """The annotations of the bundle's config.json, parsed only when they can matter:
    when `needed` (a rule looks at names or annotations) or the file mentions
    lxcri.runtime. A config.json that cannot be read or parsed gives {} here; the
    backend reports it properly."""
    try:
        with open(config_path, "rb") as f:
            data = f.read()
    except OSError:
        return {}
    if not needed and _ANNOTATION_BYTES not in data:
        return {}  # the common case: no json import
    from lxcri import jsonlite

    try:
        annotations = jsonlite.loads(data).get("annotations") or {}
    except (ValueError, AttributeError):
        return {}
    if not isinstance(annotations, dict):
        return {}
    return {str(k): str(v) for k, v in annotations.items()}


def choose(id: str, *, explicit: Optional[str], annotations: Mapping[str, str],
           config: Config) -> Choice:
    """The backend for a new container (the order is the module's docstring)."""
    if explicit:
        return Choice(check_runtime_name(explicit, "--runtime"), "--runtime", True)
    env = os.environ.get(ENV_RUNTIME)
    if env:
        return Choice(check_runtime_name(env, f"${ENV_RUNTIME}"), f"${ENV_RUNTIME}", True)
    annotated = annotations.get(ANNOTATION)
    if annotated:
        return Choice(check_runtime_name(annotated, f"annotation {ANNOTATION}"),
                      f"annotation {ANNOTATION}", True)
    for rule in config.rules:
        if rule.matches(id, annotations):
            return Choice(rule.runtime, f"routing rule {rule.pattern!r} "
                          f"({config.path}:{rule.line})")
    from lxcri.config import BUILTIN_RULE

    if id.startswith(BUILTIN_RULE[0][:-1]):
        return Choice(BUILTIN_RULE[1], f"built-in rule {BUILTIN_RULE[0]!r}")
    if config.path is not None and config.default_runtime != RuntimeType.CRUN:
        return Choice(config.default_runtime, f"default_runtime in {config.path}")
    return Choice(RuntimeType.CRUN, "default")


# -- ownership records -------------------------------------------------------------------------

_CLAIM_ATTEMPTS = 100  # each lost only to a release that emptied the directories meanwhile


def _make_dirs(path: str) -> None:
    """mkdir -p, racing releases that remove the same directories once empty (makedirs
    raises FileExistsError when one vanishes between its mkdir and its check)."""
    parent = os.path.dirname(path)
    os.makedirs(os.path.dirname(parent), 0o700, exist_ok=True)  # the state root stays
    for directory in (parent, path):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the parent went meanwhile: the caller tries again
            return


class Owners:
    """`<root>/.lxcri/owners/<id>` holds the name of the backend that created <id>."""

    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, PRIVATE_DIR, "owners")

    def get(self, id: str) -> Optional[str]:
        try:
            with open(os.path.join(self.dir, id), "rb") as f:
                name = f.read().decode("utf-8", "replace").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        return name if name in BACKENDS else None

    def claim(self, id: str, runtime: str) -> bool:
        """Record `runtime` as the owner of `id`; False if a record exists already.

        The record appears whole or not at all (written aside, then linked into
        place; link fails if the name exists), so two concurrent creates of one id
        cannot both win.
        """
        for attempt in range(_CLAIM_ATTEMPTS):
            _make_dirs(self.dir)
            tmp = os.path.join(self.dir, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
                continue  # a concurrent release removed the empty directory: make it again
            try:
                os.write(fd, f"{runtime}\n".encode())
            except OSError:  # a full disk: the half-made record must not stay behind
                os.unlink(tmp)
                raise
            finally:
                os.close(fd)
            try:
                os.link(tmp, os.path.join(self.dir, id))
                return True
            except FileExistsError:
                return False
            finally:
                os.unlink(tmp)
        return False

    def release(self, id: str) -> None:
        """Forget `id`; the bookkeeping directories go too once empty, so a root whose
        containers are all gone is left as empty as crun leaves it."""
        try:
            os.unlink(os.path.join(self.dir, id))
        except FileNotFoundError:
            pass
        for directory in (self.dir, os.path.dirname(self.dir)):
            try:
                os.rmdir(directory)
            except OSError:  # not empty (other records, a backend's state), or gone already
                break

    def all(self) -> Dict[str, str]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return {}
        found = {}
        for id in names:
            if not id.startswith("."):
                owner = self.get(id)
                if owner is not None:
                    found[id] = owner
        return found


# -- opening backends --------------------------------------------------------------------------

_warned = False


def warn(message: str) -> None:
    """One warning line on stderr, once per process."""
    global _warned
    if _warned:
        return
    _warned = True
    try:
        sys.stderr.write(f"lxcri: warning: {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def embedded_crun_problem() -> Optional[str]:
    """Why the embedded crun cannot load, or None when it can."""
    from lxcri.backends.crun import embedded_problem

    return embedded_problem()


class _LazyOptions:
    """A backend's [runtimes.NAME] table, read from lxcri.toml on first use: the embedded
    crun never looks at it, so `lxcri state` does not parse the file."""

    __slots__ = ("_name", "_config_path", "_table")

    def __init__(self, name: str, config_path: Optional[str]) -> None:
        self._name = name
        self._config_path = config_path
        self._table: Optional[Dict[str, Any]] = None

    def _get(self) -> Dict[str, Any]:
        if self._table is None:
            from lxcri import config

            self._table = config.load(self._config_path).options(self._name)
        return self._table

    def get(self, key: str, default: Any = None) -> Any:
        return self._get().get(key, default)

    def keys(self) -> Any:
        return self._get().keys()

    def items(self) -> Any:
        return self._get().items()

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Any:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __contains__(self, key: object) -> bool:
        return key in self._get()


def open_backend(name: str, backend_args: Mapping[str, Any],
                 options: Optional[Mapping[str, Any]] = None,
                 config_path: Optional[str] = None) -> Any:
    """An instance of backend `name`, made by its registry entry's factory (for crun: the
    embedded one, else the crun binary with a warning; BackendUnavailable when neither
    can serve). `options` is the backend's [runtimes.NAME] table; when None it is read
    from the config file (explicit `config_path`, else $LXCRI_CONFIG or
    /etc/lxcri/lxcri.toml) only if the backend looks at it."""
    entry = BACKENDS.get(name)
    if entry is None:
        raise InvalidArgument(f"unknown runtime {name!r}: use one of {', '.join(BACKENDS)}")
    opts: Any = dict(options) if options is not None else _LazyOptions(name, config_path)
    backend = entry.load()(**backend_args, options=opts)
    warning = getattr(backend, "warning", None)
    if warning:
        warn(warning)
    return backend


def availability(name: str, options: Optional[Mapping[str, Any]] = None) -> Tuple[bool, str]:
    """(usable, what serves it or why not) for `lxcri info`; never raises."""
    entry = BACKENDS.get(name)
    if entry is None:
        return False, "unknown runtime"
    return entry.check(dict(options or {}))


def state_roots(root: str) -> List[Tuple[str, str]]:
    """(runtime, directory) of every backend with a state directory of its own that holds
    something here."""
    found = []
    for name, entry in BACKENDS.items():
        if not entry.own_root:
            continue
        path = backend_root(root, name)
        try:
            if any(not n.startswith(".") for n in os.listdir(path)):
                found.append((name, path))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def has_crun_containers(root: str) -> bool:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return False
    return any(not n.startswith(".") and os.path.isfile(os.path.join(root, n, "status"))
               for n in names)


def exists_error(id: str, owner: str, root: str) -> ContainerExists:
    return ContainerExists(f"container `{id}` already exists under {root} (runtime {owner}): "
                           "pick another id, or `lxcri delete` the old one",
                           errno=errno_mod.EEXIST, container_id=id)
