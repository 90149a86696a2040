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

from lxcri.backends import PRIVATE_DIR, RuntimeType, backend_root
from lxcri.errors import BackendUnavailable, ContainerExists, ContainerNotFound, InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

    from lxcri.config import Config

ENV_RUNTIME = "LXCRI_RUNTIME"
ANNOTATION = "lxcri.runtime"
_ANNOTATION_BYTES = b'"' + ANNOTATION.encode() + b'"'


def check_runtime_name(name: str, source: str) -> str:
    if name not in RuntimeType.ALL:
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
    import json

    try:
        annotations = json.loads(data).get("annotations") or {}
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
        return name if name in RuntimeType.ALL else None

    def claim(self, id: str, runtime: str) -> bool:
        """Record `runtime` as the owner of `id`; False if a record exists already.

        The record appears whole or not at all (written aside, then linked into
        place; link fails if the name exists), so two concurrent creates of one id
        cannot both win.
        """
        for attempt in (1, 2):
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
            tmp = os.path.join(self.dir, f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # a concurrent release removed the empty directory: make it again
            try:
                os.write(fd, f"{runtime}\n".encode())
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
    try:
        import lxcri.backends.crun.backend  # noqa: F401
    except BackendUnavailable as exc:
        return exc.message
    except ImportError as exc:
        return f"the embedded crun backend cannot load: {exc}"
    return None


def open_backend(name: str, backend_args: Mapping[str, Any],
                 options: Optional[Mapping[str, Any]] = None,
                 config_path: Optional[str] = None) -> Any:
    """An instance of backend `name`. For crun: the embedded one, else the crun binary
    (with a warning); BackendUnavailable when neither can serve. `options` is the
    backend's [runtimes.NAME] table; when None it is read from the config file
    (explicit `config_path`, else $LXCRI_CONFIG or /etc/lxcri/lxcri.toml) only if needed."""
    args = dict(backend_args)

    def opts() -> Dict[str, Any]:
        if options is not None:
            return dict(options)
        from lxcri import config

        return config.load(config_path).options(name)

    if name == RuntimeType.CRUN:
        problem = embedded_crun_problem()
        if problem is None:
            from lxcri.backends.crun.backend import CrunBackend

            return CrunBackend(**args)
        from lxcri.backends.oci_binary import OciBinaryBackend, find_binary

        binary, why = find_binary("crun", opts().get("path"))
        if binary is None:
            raise BackendUnavailable(f"the crun backend is unavailable: {problem}; and {why}")
        warn(f"{problem}; using the crun binary {binary} instead")
        root = str(args.pop("root"))
        return OciBinaryBackend("crun", binary, root, os.path.join(root, PRIVATE_DIR), **args)
    if name == RuntimeType.RUNC:
        from lxcri.backends.runc import RuncBackend

        return RuncBackend(**args, options=opts())
    if name == RuntimeType.LXC:
        try:
            from lxcri.backends.lxc import LxcBackend
        except ImportError:
            raise BackendUnavailable("the lxc backend is not included in this lxcri build") \
                from None
        return LxcBackend(**args, options=opts())
    if name == RuntimeType.VM:
        from lxcri.backends.vm import VmBackend

        return VmBackend(**args, options=opts())
    raise InvalidArgument(f"unknown runtime {name!r}: use one of {', '.join(RuntimeType.ALL)}")


def availability(name: str, options: Optional[Mapping[str, Any]] = None) -> Tuple[bool, str]:
    """(usable, what serves it or why not) for `lxcri info`; never raises."""
    opts = dict(options or {})
    try:
        if name == RuntimeType.CRUN:
            problem = embedded_crun_problem()
            if problem is None:
                from lxcri.backends.crun.backend import version_info

                return True, f"embedded libcrun {version_info()['libcrun']}"
            from lxcri.backends.oci_binary import find_binary

            binary, why = find_binary("crun", opts.get("path"))
            if binary is not None:
                return True, f"crun binary {binary} (fallback: {problem})"
            return False, f"{problem}; and {why}"
        if name == RuntimeType.RUNC:
            from lxcri.backends import runc

            return runc.availability(opts)
        if name == RuntimeType.LXC:
            try:
                from lxcri.backends import lxc
            except ImportError:
                return False, "the lxc backend is not included in this lxcri build"
            return lxc.availability(opts)
        if name == RuntimeType.VM:
            from lxcri.backends import vm

            return vm.availability(opts)
    except Exception as exc:  # info must always answer
        return False, f"{type(exc).__name__}: {exc}"
    return False, "unknown runtime"


def state_roots(root: str) -> List[Tuple[str, str]]:
    """(runtime, directory) of every non-crun backend that has a state directory here."""
    found = []
    for name in (RuntimeType.RUNC, RuntimeType.LXC, RuntimeType.VM):
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


def not_found(id: str, root: str) -> ContainerNotFound:
    return ContainerNotFound(f"container `{id}` does not exist under {root}: `lxcri list` "
                             "shows the containers there", errno=errno_mod.ENOENT, container_id=id)


def exists_error(id: str, owner: str, root: str) -> ContainerExists:
    return ContainerExists(f"container `{id}` already exists under {root} (runtime {owner}): "
                           "pick another id, or `lxcri delete` the old one",
                           errno=errno_mod.EEXIST, container_id=id)
