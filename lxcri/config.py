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

import os

from lxcri.backends import BACKENDS, RuntimeType
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
    env = os.environ.get(ENV_VAR)
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
    """Validate and load the TOML text `data` read from `path`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message, where_at = str(exc), path
        marker = message.rfind(" (at line ")
        if marker >= 0:  # "... (at line 3, column 7)": put the line where editors look for it
            where_at = f"{path}:{message[marker + 10:].split(',')[0]}"
            message = message[:marker]
        raise ConfigFileError(f"{where_at}: TOML syntax error: {message}; fix the file or "
                              f"point {ENV_VAR} at another one") from None
    where = _Locator(text, path)
    config = Config(path=path)
    for key, value in doc.items():
        if key == "default_runtime":
            config.default_runtime = _check_value(where, (), key, value, RuntimeType.ALL)
        elif key == "routing":
            if not isinstance(value, list):
                raise ConfigFileError(f"{where.at((), key)}: routing must be a list of "
                                      "[[routing]] tables")
            for index, entry in enumerate(value):
                config.rules.append(_rule(where, index, entry))
        elif key == "runtimes":
            if not isinstance(value, dict):
                raise ConfigFileError(f"{where.at((), key)}: runtimes must be a table")
            for name, table in value.items():
                if name not in BACKENDS:
                    raise ConfigFileError(
                        f"{where.at(('runtimes',), name)}: unknown runtime [runtimes.{name}]; "
                        f"known: {', '.join(RuntimeType.ALL)}")
                config.runtimes[name] = _table(where, ("runtimes", name), table,
                                               BACKENDS[name].options)
        else:
            raise ConfigFileError(f"{where.at((), key)}: unknown key {key!r}; known keys: "
                                  "default_runtime, [[routing]], [runtimes.NAME]")
    return config


def _rule(where: _Locator, index: int, entry: Any) -> Rule:
    section = ("routing", index)
    if not isinstance(entry, dict):
        raise ConfigFileError(f"{where.at(section, None)}: each routing entry must be a table")
    values = _table(where, section, entry, _RULE_KEYS)
    for required in ("pattern", "runtime"):
        if required not in values:
            raise ConfigFileError(f"{where.at(section, None)}: [[routing]] entry {index + 1} "
                                  f"has no {required!r}; each rule needs pattern and runtime")
    try:
        return Rule(values["pattern"], values["runtime"], values.get("annotation"),
                    where.line(section, "pattern"))
    except Exception as exc:  # re.error: a regex (or glob) that does not compile
        raise ConfigFileError(f"{where.at(section, 'pattern')}: bad pattern "
                              f"{values['pattern']!r}: {exc}") from None


def _table(where: _Locator, section: Tuple[Any, ...], table: Any,
           schema: Mapping[str, Any]) -> Dict[str, Any]:
    if not isinstance(table, dict):
        raise ConfigFileError(f"{where.at(section[:-1], section[-1])}: "
                              f"{_dotted(section)} must be a table")
    out: Dict[str, Any] = {}
    for key, value in table.items():
        if key not in schema:
            known = ", ".join(schema) or "none"
            raise ConfigFileError(f"{where.at(section, key)}: unknown key {key!r} in "
                                  f"[{_dotted(section)}]; known keys: {known}")
        kind = schema[key]
        if isinstance(kind, dict):
            out[key] = _table(where, (*section, key), value, kind)
        else:
            out[key] = _check_value(where, section, key, value, kind)
    return out


def _check_value(where: _Locator, section: Tuple[Any, ...], key: str, value: Any,
                 kind: Any) -> Any:
    if isinstance(kind, tuple):  # a string with fixed choices
        if not isinstance(value, str) or value not in kind:
            what = "runtime" if kind == RuntimeType.ALL else "value"
            raise ConfigFileError(f"{where.at(section, key)}: unknown {what} {value!r} for "
                                  f"{key!r}; use one of: {', '.join(kind)}")
        return value
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigFileError(f"{where.at(section, key)}: {key!r} must be a "
                              f"{_TYPE_NAMES.get(kind, kind.__name__)}, not {value!r}")
    return value


_TYPE_NAMES = {str: "string", bool: "boolean (true or false)", int: "whole number"}


def _dotted(section: Tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in section if not isinstance(p, int))


class _Locator:
    """Finds the line of a key in the TOML text, for messages (tomllib keeps no positions).

    It follows table headers ([a.b], [[routing]]) and `key =` lines; dotted or inline
    keys fall back to the header's line, which still points the reader to the right place.
    """

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def _headers(self) -> List[Tuple[int, Tuple[Any, ...]]]:
        found: List[Tuple[int, Tuple[Any, ...]]] = [(0, ())]
        counts: Dict[Tuple[str, ...], int] = {}
        for number, raw in enumerate(self.lines, 1):
            line = raw.strip()
            if line.startswith("[["):
                name = tuple(p.strip().strip('"') for p in line[2:line.find("]]")].split("."))
                index = counts.get(name, 0)
                counts[name] = index + 1
                found.append((number, (*name, index)))
            elif line.startswith("["):
                name = tuple(p.strip().strip('"') for p in line[1:line.find("]")].split("."))
                found.append((number, name))
        return found

    def line(self, section: Tuple[Any, ...], key: Optional[str]) -> int:
        headers = self._headers()
        for i, (start, name) in enumerate(headers):
            end = headers[i + 1][0] - 1 if i + 1 < len(headers) else len(self.lines)
            if name == section or (key is not None and name == (*section, key)):
                if name != section:
                    return start  # [runtimes.runc] for the key runc of [runtimes]
                if key is None:
                    return start
                for number in range(start + 1, end + 1):
                    text = self.lines[number - 1].strip()
                    if text.split("=", 1)[0].strip().strip('"') == key and "=" in text:
                        return number
                return start
        return 0

    def at(self, section: Tuple[Any, ...], key: Optional[str]) -> str:
        number = self.line(section, key)
        return f"{self.path}:{number}" if number else self.path
