"""Reading lxcri.toml (lxcri.config): the TOML parse and the checks of every key, with the
file and line of each problem. Loaded only when a config file exists."""
from __future__ import annotations

from lxcri.backends import BACKENDS, RuntimeType
from lxcri.config import _RULE_KEYS, ENV_VAR, Config, Rule
from lxcri.errors import ConfigFileError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Mapping, Optional, Tuple


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
