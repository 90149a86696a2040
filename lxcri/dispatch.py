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
import posix
import sys

from lxcri import posixos
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


_CGROUPS_PATH_BYTES = b'"cgroupsPath"'


def read_cgroups_path(config_path: str) -> Optional[str]:
    """linux.cgroupsPath of the bundle's config.json, parsed only when the file mentions it;
    None when absent, not a string, or the file cannot be read or parsed (the backend
    reports that properly)."""
    try:
        with open(config_path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if _CGROUPS_PATH_BYTES not in data:
        return None  # the common case: no json import
    from lxcri import jsonlite

    try:
        value = jsonlite.loads(data).get("linux", {}).get("cgroupsPath")
    except (ValueError, AttributeError, RecursionError):
        return None
    return value if isinstance(value, str) else None


def choose(id: str, *, explicit: Optional[str], annotations: Mapping[str, str],
           config: Config) -> Choice:
    """The backend for a new container (the order is the module's docstring)."""
    if explicit:
        return Choice(check_runtime_name(explicit, "--runtime"), "--runtime", True)
    env = posixos.getenv(ENV_RUNTIME)
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
    parent = posixos.dirname(path)
    posixos.makedirs(posixos.dirname(parent), 0o700)  # the state root stays
    for directory in (parent, path):
        try:
            posix.mkdir(directory, 0o700)
        except FileExistsError:
            pass
        except FileNotFoundError:  # the parent went meanwhile: the caller tries again
            return


# A record's first line is the owning backend's name (all that `state` and `kill` read); the
# lines after it are `key=value` facts about the create that made it (the intent record):
#   phase         creating (written before the backend is called) | created (it returned)
#   pid, start    the creating process and its start time: alive or not tells a create in
#                 progress from one that was killed half-way
#   bundle        the bundle's directory
#   cgroup_dirs   the container's cgroup directories, one per hierarchy, tab-separated, as the
#                 backend's cgroupfs manager derives them (lxcri.host.cgroup_paths.container_dirs);
#                 under systemd, what libcrun's status names once the create succeeded;
#                 none with --cgroup-manager disabled
#   cgroup_old    those of them that existed before the create: what a failed create must
#                 not remove
#   state_new     1 when the backend's state directory did not exist before the create
# Values are escaped (%, newline) so that one line is one fact.
_RECORD_KEYS = ("phase", "pid", "start", "bundle", "cgroup_dirs", "cgroup_old", "state_new")


def _escape(value: str) -> str:
    return value.replace("%", "%25").replace("\n", "%0A").replace("\r", "%0D")


def _unescape(value: str) -> str:
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


class Record:
    """One container's ownership record: its backend and what its create left in writing.
    `problem` says why the file cannot be read as a record (then nothing else is known)."""

    __slots__ = ("id", "path", "runtime", "facts", "problem")

    def __init__(self, id: str, path: str, runtime: Optional[str],
                 facts: Optional[Dict[str, str]] = None, problem: Optional[str] = None) -> None:
        self.id = id
        self.path = path
        self.runtime = runtime
        self.facts = dict(facts or {})
        self.problem = problem

    @property
    def phase(self) -> str:
        # A record from before intent records existed is a container created whole.
        return self.facts.get("phase", "created")

    @property
    def creator(self) -> Tuple[int, Optional[str]]:
        pid = self.facts.get("pid", "")
        return (int(pid) if pid.isdigit() else 0), self.facts.get("start") or None

    @property
    def cgroup_dirs(self) -> List[str]:
        return [d for d in self.facts.get("cgroup_dirs", "").split("\t") if d]

    @property
    def cgroup_old(self) -> List[str]:
        return [d for d in self.facts.get("cgroup_old", "").split("\t") if d]

    @property
    def state_new(self) -> bool:
        return self.facts.get("state_new") == "1"

    @property
    def bundle(self) -> str:
        return self.facts.get("bundle", "")

    def text(self) -> str:
        lines = [self.runtime or ""]
        lines += [f"{k}={_escape(self.facts[k])}" for k in _RECORD_KEYS if k in self.facts]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, id: str, path: str, data: bytes) -> "Record":
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return cls(id, path, None, problem="it is not UTF-8 text")
        lines = text.split("\n")
        name = lines[0].strip()
        if name not in BACKENDS:
            what = "it is empty" if not text.strip() else f"its first line {name[:40]!r} " \
                "names no runtime"
            return cls(id, path, None, problem=what)
        facts: Dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            key, eq, value = line.partition("=")
            if not eq or key not in _RECORD_KEYS:
                return cls(id, path, name, problem=f"it holds a line {line[:40]!r} lxcri did "
                           "not write")
            facts[key] = _unescape(value)
        return cls(id, path, name, facts)


class Owners:
    """`<root>/.lxcri/owners/<id>` holds the name of the backend that created <id>, and the
    intent record of that create (Record)."""

    def __init__(self, root: str, keep_dirs: bool = False) -> None:
        self.dir = posixos.join(root, PRIVATE_DIR, "owners")
        # A long-lived Runtime keeps the empty directories until `tidy` (Runtime.close):
        # removing and making them again costs a library run about 0.2 ms.
        self.keep_dirs = keep_dirs

    def get(self, id: str) -> Optional[str]:
        try:
            with open(posixos.join(self.dir, id), "rb") as f:
                name = f.read().decode("utf-8", "replace").split("\n", 1)[0].strip()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        return name if name in BACKENDS else None

    def read(self, id: str) -> Optional[Record]:
        """The whole record of `id`; None when there is none."""
        path = posixos.join(self.dir, id)
        try:
            with open(path, "rb") as f:
                data = f.read(1 << 16)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            return Record(id, path, None, problem=f"it cannot be read: {exc.strerror or exc}")
        return Record.parse(id, path, data)

    def _write_aside(self, text: str) -> str:
        """The record's text in a new file beside where it goes; FileNotFoundError when a
        racing release removed the directories (the caller tries again)."""
        _make_dirs(self.dir)
        tmp = posixos.join(self.dir, f".tmp-{posix.getpid()}-{posix.urandom(6).hex()}")
        fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL | posix.O_CLOEXEC, 0o600)
        try:
            posix.write(fd, text.encode())
        except OSError:  # a full disk: the half-made record must not stay behind
            posix.unlink(tmp)
            raise
        finally:
            posix.close(fd)
        return tmp

    def claim(self, id: str, runtime: str, facts: Optional[Dict[str, str]] = None) -> bool:
        """Record `runtime` as the owner of `id`, with the intent `facts`; False if a record
        exists already.

        The record appears whole or not at all (written aside, then linked into
        place; link fails if the name exists), so two concurrent creates of one id
        cannot both win.
        """
        text = Record(id, "", runtime, facts).text()
        for attempt in range(_CLAIM_ATTEMPTS):
            try:
                tmp = self._write_aside(text)
            except FileNotFoundError:
                if attempt == _CLAIM_ATTEMPTS - 1:
                    raise
                continue  # a concurrent release removed the empty directory: make it again
            try:
                posix.link(tmp, posixos.join(self.dir, id))
                return True
            except FileExistsError:
                return False
            finally:
                posix.unlink(tmp)
        return False

    def update(self, id: str, **facts: str) -> None:
        """Change facts of the record of `id` in place (atomically: written aside, renamed);
        nothing when there is no readable record."""
        record = self.read(id)
        if record is None or record.problem is not None:
            return
        record.facts.update(facts)
        tmp = self._write_aside(record.text())
        try:
            posix.rename(tmp, posixos.join(self.dir, id))
        except OSError:
            posix.unlink(tmp)
            raise

    def release(self, id: str) -> None:
        """Forget `id`; the bookkeeping directories go too once empty (lxcri.records),
        unless they are kept (keep_dirs)."""
        from lxcri import records

        records.release(self.dir, id, tidy=not self.keep_dirs)

    def tidy(self) -> None:
        """Remove the bookkeeping directories if they are empty."""
        from lxcri import records

        records.remove_empty(self.dir)

    def ids(self) -> List[str]:
        """Every id with a record, readable or not."""
        try:
            names = posix.listdir(self.dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if not n.startswith("."))

    def all(self) -> Dict[str, str]:
        found = {}
        for id in self.ids():
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


def embedded_crun_problem(load: bool = True) -> Optional[str]:
    """Why the embedded crun cannot load, or None when it can (load=False: by its files
    alone, lxcri.backends.crun.embedded_problem)."""
    from lxcri.backends.crun import embedded_problem

    return embedded_problem(load)


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
            if any(not n.startswith(".") for n in posix.listdir(path)):
                found.append((name, path))
        except (FileNotFoundError, NotADirectoryError):
            continue
    return found


def has_crun_containers(root: str) -> bool:
    try:
        names = posix.listdir(root)
    except FileNotFoundError:
        return False
    return any(not n.startswith(".") and posixos.isfile(posixos.join(root, n, "status"))
               for n in names)


def exists_error(id: str, owner: str, root: str) -> ContainerExists:
    return ContainerExists(f"container `{id}` already exists under {root} (runtime {owner}): "
                           "pick another id, or `lxcri delete` the old one",
                           errno=errno_mod.EEXIST, container_id=id)
