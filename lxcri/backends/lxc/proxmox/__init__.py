"""The Proxmox driver's settings: whether it serves the lxc backend here, and with what.

`selected` and `availability` answer cheaply, without importing the driver
(lxcri.backends.lxc.proxmox.driver), proxmoxer or subprocess: the lxc backend asks
them on every open, `lxcri info` for its report. [runtimes.lxc.proxmox] in lxcri.toml
holds the settings (their keys are in lxcri.backends' registry); DEFAULTS fill the rest.
"""
from __future__ import annotations

import os

from lxcri.errors import BackendUnavailable, LxcriError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional, Tuple

    from lxcri.backends.lxc.proxmox.transport import Secret

DEFAULTS: Dict[str, Any] = {
    "storage": "local-lvm",
    "template_storage": "local",
    "verify_ssl": True,
    "network": "name=eth0,bridge=vmbr0,ip=dhcp",
    "unprivileged": True,
    "rootfs_size": 8,
    "task_timeout": 300,
    "pct": "pct",
    "pve_dir": "/etc/pve",
}


# --- configuration ---------------------------------------------------------------------------

def settings(options: Dict[str, Any]) -> Dict[str, Any]:
    section = (options or {}).get("proxmox") or {}
    return section if isinstance(section, dict) else {}


def setting(section: Dict[str, Any], key: str) -> Any:
    return section.get(key, DEFAULTS.get(key))


def pct_path(section: Dict[str, Any]) -> Optional[str]:
    import shutil

    pct = str(setting(section, "pct"))
    if os.sep in pct:
        return pct if os.access(pct, os.X_OK) else None
    return shutil.which(pct)


def on_node(section: Dict[str, Any]) -> bool:
    """pct is installed and pmxcfs is mounted (its virtual .vmlist exists only then)."""
    pve_dir = str(setting(section, "pve_dir"))
    return pct_path(section) is not None and os.path.isfile(os.path.join(pve_dir, ".vmlist"))


def selected(options: Dict[str, Any]) -> bool:
    """Does the lxc backend serve containers as Proxmox CTs here? Cheap; never raises.
    [runtimes.lxc] driver = "proxmox" / "liblxc" decides outright; "auto" (the default) detects."""
    try:
        driver = (options or {}).get("driver", "auto")
        if driver in ("proxmox", "liblxc"):
            return bool(driver == "proxmox")
        section = settings(options)
        return bool(section.get("endpoint")) or on_node(section)
    except Exception:  # a malformed table is the lead's validator's to report
        return False


def read_secret(section: Dict[str, Any]) -> Secret:
    """The token secret, from token_secret_file (preferred) or token_secret."""
    from lxcri.backends.lxc.proxmox.transport import Secret

    path = section.get("token_secret_file")
    if path:
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError as exc:
            raise BackendUnavailable(
                f"[runtimes.lxc.proxmox] token_secret_file {path}: {exc.strerror}; "
                "it must hold the API token's secret") from None
        if not value:
            raise BackendUnavailable(f"[runtimes.lxc.proxmox] token_secret_file {path} is empty")
        return Secret(value)
    inline = section.get("token_secret")
    if not inline:
        raise BackendUnavailable(
            "[runtimes.lxc.proxmox] names an endpoint but no token secret: set "
            "token_secret_file (a file only root can read) or token_secret")
    return Secret(str(inline))


def api_problem(section: Dict[str, Any]) -> Optional[str]:
    import importlib.util

    for key in ("node", "token_id"):
        if not section.get(key):
            return f"[runtimes.lxc.proxmox] names an endpoint but no {key}"
    for module in ("requests", "proxmoxer"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install 'lxcri[proxmox]'"
    return None


def availability(options: Dict[str, Any]) -> Tuple[bool, str]:
    """(True, what serves Proxmox CTs) or (False, why not and the fix). Cheap; never raises."""
    try:
        section = settings(options)
        if section.get("endpoint"):
            problem = api_problem(section)
            if problem is None:
                read_secret(section)
            if problem is not None:
                return False, problem
            from lxcri.backends.lxc.proxmox.transport import parse_endpoint

            host, port = parse_endpoint(str(section["endpoint"]))
            return True, f"Proxmox API https://{host}:{port} node {section['node']}"
        if on_node(section):
            return True, f"pct {pct_path(section)} on PVE node {os.uname().nodename}"
        return False, ("not a Proxmox VE node (no pct, or no pmxcfs at "
                       f"{setting(section, 'pve_dir')}) and [runtimes.lxc.proxmox] names no "
                       "endpoint: run lxcri on a PVE node or configure the API")
    except LxcriError as exc:
        return False, exc.message
    except Exception as exc:  # availability must not raise
        return False, f"the Proxmox settings cannot be used: {type(exc).__name__}"
