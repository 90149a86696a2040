"""The runc backend: containers run by the runc binary, state under <root>/.lxcri/runc.

The binary comes from [runtimes.runc] path in lxcri.toml, else from PATH. Every
call passes runc the flags an engine would (lxcri.backends.oci_binary); runc's
state JSON and error messages come back as lxcri's.
"""
from __future__ import annotations

import os

from lxcri.backends import PRIVATE_DIR, RuntimeType, backend_root
from lxcri.backends.oci_binary import OciBinaryBackend, binary_version, find_binary
from lxcri.errors import BackendUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple


def availability(options: Optional[Dict[str, Any]] = None) -> Tuple[bool, str]:
    binary, why = find_binary("runc", (options or {}).get("path"))
    if binary is None:
        return False, why
    version = binary_version(binary)
    return True, f"{binary}" + (f" ({version})" if version else "")


class RuncBackend(OciBinaryBackend):
    """runc with its own root under lxcri's state root."""

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        binary, why = find_binary("runc", (options or {}).get("path"))
        if binary is None:
            raise BackendUnavailable(f"the runc backend is unavailable: {why}")
        super().__init__(RuntimeType.RUNC, binary, backend_root(root, RuntimeType.RUNC),
                         os.path.join(root, PRIVATE_DIR), debug=debug,
                         systemd_cgroup=systemd_cgroup, force_no_cgroup=force_no_cgroup, log=log,
                         log_format=log_format, log_level=log_level)
