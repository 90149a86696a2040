"""The vm backend (a container inside a VM): planned, not implemented in this version.

It exists so that `--runtime vm`, `lxcri.runtime=vm` and routing rules naming vm
are recognised and fail with a clear reason instead of an unknown-name error.
"""
from __future__ import annotations

from lxcri.errors import BackendUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

WHY = ("the vm backend is not implemented in this version of lxcri: route the container to "
       "crun, runc or lxc instead")


def availability(options: Optional[Dict[str, Any]] = None) -> Tuple[bool, str]:
    return False, WHY


class VmBackend:
    name = "vm"

    def __init__(self, root: str, **kwargs: Any) -> None:
        raise BackendUnavailable(WHY)
