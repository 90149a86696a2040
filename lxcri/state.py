"""The OCI state of a container, as runtimes report it (`state` command, runtime-spec)."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class State:
    oci_version: str
    id: str
    status: str  # creating | created | running | paused | stopped
    pid: int
    bundle: str
    created: Optional[str] = None
    annotations: Dict[str, str] = field(default_factory=dict)
    rootfs: Optional[str] = None
    owner: Optional[str] = None
    runtime: str = "crun"

    @classmethod
    def from_dict(cls, d: Dict[str, Any], runtime: str = "crun") -> "State":
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
        return cls.from_dict(json.loads(text), runtime)

    def to_dict(self) -> Dict[str, Any]:
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
