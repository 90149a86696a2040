"""lxcri.toml: the default runtime, the routing rules and each backend's settings.

    default_runtime = "crun"
    [[routing]]
    pattern = "db-*"        # glob; a pattern starting with ^ or ending with $ is a regex
    runtime = "lxc"
    [runtimes.runc]
    path = "/usr/sbin/runc"

The file is /etc/lxcri/lxcri.toml, or the one $LXCRI_CONFIG names. A missing
default file means "no rules"; a missing $LXCRI_CONFIG file is an error (the
user asked for it). Every problem is one line naming the file, the line and the
key: unknown keys, values of the wrong type, an unknown runtime name, a pattern
that does not compile, TOML syntax.

Loading is lazy and costs nothing when there is no file: only create, run and
`info` read it (later commands go to the backend that owns the container).
"""
from __future__ import annotations

from lxcri import posixos
from lxcri.backends import RuntimeType
from lxcri.errors import ConfigFileError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple

DEFAULT_PATH = "/etc/lxcri/lxcri.toml"
ENV_VAR = "LXCRI_CONFIG"

# Annotations engines use for a container's name: CRI (containerd), CRI-O, nerdctl,
# and lxcri's own for anyone else (podman 4 passes no name to the runtime).
NAME_ANNOTATIONS = ("lxcri.name", "io.kubernetes.cri.container-name",
                    "io.kubernetes.container.name", "nerdctl/name")

# The built-in rule, after the file's own rules: ids lxc-* become LXC containers.
BUILTIN_RULE = ("lxc-*", RuntimeType.LXC)

# What each table may hold: key -> type (a tuple of choices for strings with fixed values,
# a dict for a sub-table). Each backend's [runtimes.NAME] keys are in its registry entry.
_RULE_KEYS: Dict[str, Any] = {"pattern": str, "runtime": RuntimeType.ALL, "annotation": str}


class Rule:
    """One [[routing]] entry: ids (or container names, or an annotation's value) matching
    `pattern` go to `runtime`."""

    __slots__ = ("pattern", "runtime", "annotation", "line", "_match")

    def __init__(self, pattern: str, runtime: str, annotation: Optional[str] = None,
                 line: int = 0) -> None:
        self.pattern = pattern
        self.runtime = runtime
        self.annotation = annotation
        self.line = line
        self._match = _compile(pattern)

    @property
    def is_regex(self) -> bool:
        return _is_regex(self.pattern)

    def matches(self, id: str, annotations: Mapping[str, str]) -> bool:
        """Whether this rule applies: its annotation's value matches, or (without one)
        the id or the container's name matches."""
        if self.annotation is not None:
            value = annotations.get(self.annotation)
            return value is not None and bool(self._match(value))
        if self._match(id):
            return True
        name = container_name(annotations)
        return name is not None and bool(self._match(name))

    def describe(self) -> str:
        what = f"annotation {self.annotation}" if self.annotation else "id or name"
        kind = "regex" if self.is_regex else "glob"
        return f"{what} matches {kind} {self.pattern!r} -> {self.runtime}"

    def to_dict(self) -> Dict[str, Any]:
        d: Dict[str, Any] = {"pattern": self.pattern, "runtime": self.runtime}
        if self.annotation is not None:
            d["annotation"] = self.annotation
        return d


def container_name(annotations: Mapping[str, str]) -> Optional[str]:
    for key in NAME_ANNOTATIONS:
        value = annotations.get(key)
        if value:
            return str(value)
    return None


def _is_regex(pattern: str) -> bool:
    return pattern.startswith("^") or pattern.endswith("$")


def _compile(pattern: str) -> Any:
    if pattern == BUILTIN_RULE[0]:  # the built-in rule: no `re` import on the common path
        prefix = pattern[:-1]
        return lambda text: text.startswith(prefix)
    import re

    if _is_regex(pattern):
        return re.compile(pattern).search
    import fnmatch

    return re.compile(fnmatch.translate(pattern)).match


class Config:
    """A loaded lxcri.toml (or the defaults, path None, when there is no file)."""

    __slots__ = ("path", "default_runtime", "rules", "runtimes")

    def __init__(self, path: Optional[str] = None, default_runtime: str = RuntimeType.CRUN,
                 rules: Optional[List[Rule]] = None,
                 runtimes: Optional[Dict[str, Dict[str, Any]]] = None) -> None:
        self.path = path
        self.default_runtime = default_runtime
        self.rules = list(rules or [])
        self.runtimes = dict(runtimes or {})

    def options(self, runtime: str) -> Dict[str, Any]:
        """The [runtimes.<runtime>] table, {} when the file has none."""
        return dict(self.runtimes.get(runtime) or {})

    def all_rules(self) -> List[Rule]:
        """The file's rules in order, then the built-in `lxc-*` rule."""
        return [*self.rules, Rule(*BUILTIN_RULE)]

    def to_dict(self) -> Dict[str, Any]:
        return {"path": self.path, "default_runtime": self.default_runtime,
                "routing": [r.to_dict() for r in self.rules],
                "builtin_routing": [Rule(*BUILTIN_RULE).to_dict()],
                "runtimes": {name: _redacted(opts) for name, opts in self.runtimes.items()}}


def _redacted(options: Mapping[str, Any]) -> Dict[str, Any]:
    """A copy safe to print: secrets replaced."""
    out: Dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, dict):
            out[key] = _redacted(value)
        elif "secret" in key and key != "token_secret_file":
            out[key] = "<redacted>"
        else:
            out[key] = value
    return out


def config_path(explicit: Optional[str] = None) -> Tuple[str, bool]:
    """The config file in effect and whether it was asked for (so must exist)."""
    if explicit:
        return explicit, True
    env = posixos.getenv(ENV_VAR)
    if env:
        return env, True
    return DEFAULT_PATH, False


def load(explicit: Optional[str] = None) -> Config:
    """The configuration in effect: `explicit`, else $LXCRI_CONFIG, else /etc/lxcri/lxcri.toml."""
    path, required = config_path(explicit)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if required:
            source = "the path given" if explicit else f"${ENV_VAR}"
            raise ConfigFileError(f"config file {path} (from {source}) does not exist: create it "
                                  f"or unset {ENV_VAR}") from None
        return Config()
    except OSError as exc:
        raise ConfigFileError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    return parse(data, path)


def parse(data: bytes, path: str = "lxcri.toml") -> Config:
    """Validate and load the TOML text `data` read from `path` (lxcri.config_toml: a
    create without a config file does not load that byte code)."""
    from lxcri import config_toml

    return config_toml.parse(data, path)
