"""The Backend protocol: what every backend module implements (one module per backend).

A backend works in one process and returns plain data (ints, strings, dicts of the
OCI state), so lxcri.isolation can run any of its operations in a helper process
and ship the result back. Bundles arrive validated (lxcri.bundle).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Protocol


class Backend(Protocol):
    name: str

    def run(self, id: str, bundle: str, config_path: str, *, pid_file: Optional[str] = None,
            detach: bool = False) -> int: ...

    def create(self, id: str, bundle: str, config_path: str, *,
               pid_file: Optional[str] = None) -> None: ...

    def start(self, id: str) -> None: ...

    def state_json(self, id: str) -> str: ...

    def kill(self, id: str, signal: int, *, all: bool = False) -> None: ...

    def delete(self, id: str, *, force: bool = False) -> None: ...

    def list(self) -> List[Dict[str, Any]]: ...
