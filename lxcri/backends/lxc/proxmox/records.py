"""The id <-> VMID map: one JSON record per container under lxcri's state root.

Each record is its own file. Claiming an id creates the file with O_EXCL, so two
concurrent creates of the same id cannot both win; every later change writes a
temporary file and renames it over the record, so a reader (or a crash) never sees
a half-written one. The map survives the process: every lxcri command reads it.
"""
from __future__ import annotations

import os

from lxcri.errors import ContainerExists, LxcriError, not_found

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator, Optional

_SUFFIX = ".json"
# Ids may be 1024 bytes; file names only 255. Long ids get a hashed file name
# (the record itself holds the id).
_MAX_PLAIN_NAME = 200


class VmidMap:
    """Records keyed by container id: {"id", "vmid", "node", "bundle", "created", ...}."""

    def __init__(self, directory: str) -> None:
        self.dir = directory

    def _path(self, container_id: str) -> str:
        name = container_id
        if len(name.encode("utf-8", "surrogatepass")) > _MAX_PLAIN_NAME or name.startswith("."):
            import hashlib

            name = "sha256-" + hashlib.sha256(
                container_id.encode("utf-8", "surrogatepass")).hexdigest()
        return os.path.join(self.dir, name + _SUFFIX)

    def claim(self, container_id: str, record: Dict[str, Any]) -> None:
        """Create the record; ContainerExists when the id is taken."""
        import json

        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        path = self._path(container_id)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        except FileExistsError:
            raise ContainerExists(
                f"container `{container_id}` already exists (record {path}): pick another id, "
                "or `lxcri delete` the old one", container_id=container_id) from None
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
            f.flush()
            os.fsync(f.fileno())

    def update(self, container_id: str, record: Dict[str, Any]) -> None:
        """Replace the record atomically (temporary file + rename)."""
        import json
        import tempfile

        path = self._path(container_id)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(record, f)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise

    def load(self, container_id: str) -> Dict[str, Any]:
        record = self.get(container_id)
        if record is None:
            raise not_found(container_id, self.dir)
        return record

    def get(self, container_id: str) -> Optional[Dict[str, Any]]:
        return self._read(self._path(container_id))

    def _read(self, path: str) -> Optional[Dict[str, Any]]:
        import json

        try:
            with open(path, "rb") as f:
                record = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise LxcriError(f"the Proxmox record {path} is unreadable ({exc}); "
                             "remove it once the CT it names is gone") from None
        if not isinstance(record, dict) or "id" not in record:
            raise LxcriError(f"the Proxmox record {path} is not an lxcri record; remove it")
        return record

    def remove(self, container_id: str) -> None:
        try:
            os.unlink(self._path(container_id))
        except FileNotFoundError:
            pass

    def records(self) -> Iterator[Dict[str, Any]]:
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return
        for name in names:
            if name.startswith(".") or not name.endswith(_SUFFIX):
                continue  # temporary files of an update in progress
            try:
                record = self._read(os.path.join(self.dir, name))
            except LxcriError:
                continue
            if record is not None:
                yield record
