"""The liblxc driver of the lxc backend: OCI containers run as plain LXC containers.

    binding  loads lxcri._lxc (the compiled liblxc binding) and checks its version
    driver   LiblxcDriver: create, start, state, kill, delete, exec, ... (state, kill
             and delete read lxcri's files and ask a lxcri.host.real.Host, never liblxc)
    monitor  the process create forks to run a container with liblxc and record its
             exit code (loaded by create and run only)
    hooks    the start-host hook script: reports the init, holds it until `start`
    mapping  config.json -> LXC config items and the mount hook's lines (pure)
"""
from __future__ import annotations

from lxcri.errors import BackendUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Tuple


def availability(options: Dict[str, Any]) -> Tuple[bool, str]:
    """(True, "liblxc VERSION") or (False, why the binding cannot load); never raises."""
    from lxcri.backends.lxc.liblxc.binding import version

    try:
        return True, f"liblxc {version()}"
    except BackendUnavailable as exc:
        return False, exc.message
