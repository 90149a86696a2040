"""The full checks of an OCI bundle: the structure of its config.json, its rootfs, and the
OCI runtime-spec schema (jsonschema, imported only here, only when needed).

lxcri.bundle has what every create and run needs (ids, the size and RLIMIT_NOFILE
checks); this module is for the library's load_bundle and for explaining a config that
something refused. Kept apart so that the CLI's create does not load its byte code.
"""
from __future__ import annotations

import os

from lxcri.bundle import Bundle, _bundle_dir, _parse_config, _read_config, _show, read_config
from lxcri.errors import InvalidBundle

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Optional, Sequence, Union

    JsonPath = Sequence[Union[str, int]]

# The OCI schema's entry point; the other files it loads are found by the
# relative names its "$ref"s use ("defs.json#/definitions/...").
_SCHEMA_ENTRY = "config-schema.json"
_SCHEMA_DIR_ENV = "LXCRI_SCHEMA_DIR"
_MAX_DETAIL_CHARS = 200


def _strings_path(path: tuple[str, ...], value: Any) -> JsonPath:
    """Point at the first non-string item of an array, or at the array itself."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                return (*path, i)
    return path


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _structure_problem(config: dict[str, Any]) -> Optional[tuple[JsonPath, str]]:
    """The first cheap structural problem as (JSON path, what is wrong), or None.

    Checks only what libcrun needs to start a process; the full schema is left
    for explain_schema, which is too slow to run on every call.
    """
    if not isinstance(config.get("ociVersion"), str):
        return ("ociVersion",), "required, and must be a string such as \"1.0.2\""
    root = config.get("root")
    if not isinstance(root, dict):
        return ("root",), "required, and must be an object with a \"path\" string"
    if not isinstance(root.get("path"), str):
        return ("root", "path"), "required, and must be a string naming the rootfs directory"
    if root["path"] == "":
        return ("root", "path"), "must not be empty; name the rootfs directory"
    if "process" not in config:
        return None
    process = config["process"]
    if not isinstance(process, dict):
        return ("process",), "must be an object"
    args = process.get("args")
    if not _is_strings(args) or not args:
        return (_strings_path(("process", "args"), args),
                "required, and must be a non-empty array of strings")
    if "cwd" in process and not isinstance(process["cwd"], str):
        return ("process", "cwd"), "must be a string"
    if "env" in process and not _is_strings(process["env"]):
        return (_strings_path(("process", "env"), process["env"]),
                "must be an array of \"NAME=value\" strings")
    return None


def _rootfs(bundle_dir: str, root_path: str, config_path: str) -> str:
    # os.path.join keeps an absolute root.path as it is. Resolving here matters:
    # libcrun resolves a relative root.path against the caller's cwd.
    where = f"(root.path in {config_path})"
    if "\0" in root_path:
        raise InvalidBundle(f"rootfs {_show(root_path)} {where} holds a NUL character: "
                            "fix root.path")
    rootfs = os.path.normpath(os.path.join(bundle_dir, root_path))
    if not os.path.exists(rootfs):
        raise InvalidBundle(
            f"rootfs {rootfs} {where} does not exist: create it or fix root.path")
    if not os.path.isdir(rootfs):
        raise InvalidBundle(
            f"rootfs {rootfs} {where} is not a directory: "
            "point root.path at the container's root directory")
    return os.path.realpath(rootfs)


def check_rootfs(bundle_dir: str, config_path: str) -> None:
    """Raise InvalidBundle when the config's root.path is missing or not a directory.

    Used after a backend failed for a reason other than the config itself: a
    missing rootfs is the one bundle problem libcrun reports obscurely there
    ("make `x` private: No such file or directory")."""
    config = read_config(config_path)
    root = config.get("root") if config is not None else None
    root_path = root.get("path") if isinstance(root, dict) else None
    # Else not this check's business: the config's own problems surface elsewhere.
    if isinstance(root_path, str) and root_path:
        _rootfs(bundle_dir, root_path, config_path)


def load_bundle(bundle: Optional[str], config: str = "config.json") -> Bundle:
    """Read and check a bundle; raise InvalidBundle with a one-line reason if it is unusable.

    ``bundle`` None means the current directory. A relative ``config`` is
    resolved against the bundle directory, an absolute one is used as is.
    """
    bundle_dir = _bundle_dir(bundle)
    config_path = os.path.normpath(os.path.join(bundle_dir, config))
    parsed = _parse_config(_read_config(config_path), config_path)
    problem = _structure_problem(parsed)
    if problem is not None:
        path, what = problem
        # The full schema usually names the same field more precisely (or an
        # earlier one); prefer its verdict on the field the cheap check flagged.
        message = _explain(parsed, config_path, near=path)
        raise InvalidBundle(message or f"{config_path}: {_render_path(path)}: {what}")
    return Bundle(path=bundle_dir, config_path=config_path, config=parsed,
                  rootfs=_rootfs(bundle_dir, parsed["root"]["path"], config_path))


# --- the full OCI schema (jsonschema, loaded lazily) ---------------------------

def _is_identifier(key: str) -> bool:
    return key.isascii() and key.isidentifier()


# Validators keyed by schema directory, so a test (or LXCRI_SCHEMA_DIR set
# later) pointing elsewhere gets its own.
_validators: dict[str, Any] = {}


def _render_path(path: Iterable[Union[str, int]]) -> str:
    """Render a JSON path as process.args[0]; "$" is the document itself."""
    import json

    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _is_identifier(part):
            out += f".{part}" if out else part
        else:
            # Keys such as annotation names hold dots and slashes.
            out += f"[{json.dumps(part)}]"
    return out or "$"


def _schema_dir() -> str:
    override = os.environ.get(_SCHEMA_DIR_ENV)
    if override:
        return override
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_schema")


def _load_schemas(schema_dir: str) -> dict[str, Any]:
    """Every *.json file in the directory, keyed by file name (what "$ref"s use)."""
    schemas = {}
    import json

    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(".json"):
            with open(os.path.join(schema_dir, name), "rb") as f:
                schemas[name] = json.load(f)
    return schemas


def _build_validator(schemas: dict[str, Any], schema_dir: str,
                     use_referencing: Optional[bool] = None) -> Any:
    """A Draft 4 validator for config-schema.json that resolves refs among ``schemas``.

    jsonschema >= 4.18 resolves references through the ``referencing``
    library; older releases only have RefResolver (deprecated since).
    """
    import jsonschema

    entry = schemas[_SCHEMA_ENTRY]
    if use_referencing is None:
        try:
            import referencing  # noqa: F401  # only probing for the new API
            use_referencing = True
        except ImportError:
            use_referencing = False
    if use_referencing:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT4

        # The entry schema has no "id", so its refs resolve against "" and
        # "defs.json#/..." means the resource registered as "defs.json".
        registry: Any = Registry().with_resources(
            (name, Resource.from_contents(body, default_specification=DRAFT4))
            for name, body in schemas.items())
        return jsonschema.Draft4Validator(entry, registry=registry)
    base = "file://" + os.path.abspath(schema_dir) + "/"
    resolver = jsonschema.RefResolver(
        base_uri=base + _SCHEMA_ENTRY, referrer=entry,
        store={base + name: body for name, body in schemas.items()})
    return jsonschema.Draft4Validator(entry, resolver=resolver)


def _validator() -> Any:
    """The cached validator, or None when no schema is installed."""
    schema_dir = _schema_dir()
    if schema_dir in _validators:
        return _validators[schema_dir]
    if not os.path.isfile(os.path.join(schema_dir, _SCHEMA_ENTRY)):
        return None
    try:
        validator = _build_validator(_load_schemas(schema_dir), schema_dir)
    except (OSError, ValueError):
        # The explanation is a courtesy on an error path: a damaged schema
        # copy must not hide the user's real error behind a traceback.
        return None
    _validators[schema_dir] = validator
    return validator


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _MAX_DETAIL_CHARS:
        text = text[:_MAX_DETAIL_CHARS] + "..."
    return text


def _explain(config: dict[str, Any], config_path: str,
             near: Optional[JsonPath] = None) -> Optional[str]:
    """explain_schema, preferring errors at or below the JSON path ``near``."""
    validator = _validator()
    if validator is None:
        return None
    from jsonschema.exceptions import best_match

    try:
        errors = list(validator.iter_errors(config))
    except RecursionError:  # deeper than jsonschema walks: the caller's message stands
        return None
    if not errors:
        return None
    if near is not None:
        prefix = list(near)
        close = [e for e in errors if list(e.absolute_path)[:len(prefix)] == prefix]
        errors = close or errors
    error = best_match(errors)
    return f"{config_path}: {_render_path(error.absolute_path)}: {_one_line(error.message)}"


def explain_schema(config: dict[str, Any], config_path: str = "config.json") -> Optional[str]:
    """Check ``config`` against the OCI runtime-spec schema.

    Returns None when it is valid or no schema is installed, else one line
    "<config_path>: <json.path>: <what is wrong>" for the most relevant error.
    """
    return _explain(config, config_path)
