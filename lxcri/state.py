"""The OCI state of a container, as runtimes report it (`state` command, runtime-spec)."""
TYPE_CHECKING = False
if TYPE_CHECKING:  # not at run time: the CLI pays for every import
    from typing import Any, Dict, Optional

_FIELDS = ("oci_version", "id", "status", "pid", "bundle", "created", "annotations", "rootfs",
           "owner", "runtime")


class State:
    """One container's state; compares equal field by field."""

    __slots__ = _FIELDS

    def __init__(self, oci_version: str, id: str, status: str, pid: int, bundle: str,
                 created: "Optional[str]" = None, annotations: "Optional[Dict[str, str]]" = None,
                 rootfs: "Optional[str]" = None, owner: "Optional[str]" = None,
                 runtime: str = "crun") -> None:
        self.oci_version = oci_version
        self.id = id
        self.status = status  # creating | created | running | paused | stopped
        self.pid = pid
        self.bundle = bundle
        self.created = created
        self.annotations = dict(annotations or {})
        self.rootfs = rootfs
        self.owner = owner
        self.runtime = runtime

    def __eq__(self, other: object) -> bool:
        return isinstance(other, State) and all(
            getattr(self, f) == getattr(other, f) for f in _FIELDS)

    def __repr__(self) -> str:
        return "State(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in _FIELDS) + ")"

    @classmethod
    def from_dict(cls, d: "Dict[str, Any]", runtime: str = "crun") -> "State":
        return cls(
            oci_version=d.get("ociVersion", ""),
            id=d["id"],
            status=d.get("status", "unknown"),
            pid=int(d.get("pid") or 0),
            bundle=d.get("bundle", ""),
            created=d.get("created"),
            annotations=dict(d.get("annotations") or {}),
            rootfs=d.get("rootfs"),
            owner=d.get("owner"),
            runtime=runtime,
        )

    @classmethod
    def from_json(cls, text: str, runtime: str = "crun") -> "State":
        from lxcri import jsonlite

        return cls.from_dict(jsonlite.loads(text), runtime)

    def to_dict(self) -> "Dict[str, Any]":
        """The OCI state document (ociVersion, id, status, pid, bundle, ...)."""
        d: Dict[str, Any] = {"ociVersion": self.oci_version, "id": self.id, "pid": self.pid,
                             "status": self.status, "bundle": self.bundle}
        if self.rootfs is not None:
            d["rootfs"] = self.rootfs
        if self.created is not None:
            d["created"] = self.created
        if self.owner is not None:
            d["owner"] = self.owner
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


def file_problem(path: str, required: tuple[str, ...]) -> "Optional[str]":
    """Why the JSON state file at `path` (a backend's status, state.json or config.json copy)
    cannot be used: one phrase naming the file; None when it can, or when it is missing."""
    from lxcri import jsonlite

    try:
        with open(path, "rb") as f:
            data = f.read(1 << 22)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"its state file {path} cannot be read: {exc.strerror or exc}"
    if not data.strip():
        return f"its state file {path} is empty"
    try:
        doc = jsonlite.loads(data)
    except (ValueError, RecursionError) as exc:
        return f"its state file {path} is corrupt (not JSON: {str(exc)[:80]})"
    if not isinstance(doc, dict):
        return f"its state file {path} is corrupt (not a JSON object)"
    missing = [key for key in required if key not in doc]
    if missing:
        return f"its state file {path} is corrupt (no {', '.join(repr(k) for k in missing)})"
    return None
