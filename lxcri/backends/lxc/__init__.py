"""The lxc backend: OCI containers run as LXC system containers ("special" ids, `lxc-*`).

Two drivers sit behind it, each a package here: plain liblxc (liblxc.driver.LiblxcDriver)
and Proxmox CTs on a PVE node (proxmox.driver.ProxmoxDriver). `[runtimes.lxc]` in
lxcri.toml picks one with `driver = "auto" | "liblxc" | "proxmox"`; auto means
Proxmox when its module says it is selected (a PVE node), else liblxc. Every
operation is delegated to the chosen driver.

Cheap to import (the CLI's state/kill path): neither liblxc nor the Proxmox
driver is loaded before an operation needs it.
"""
from __future__ import annotations

from lxcri.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional, Tuple

    from lxcri.options import CreateOptions, ExecOptions, RunOptions

DRIVERS = ("auto", "liblxc", "proxmox")


def _driver_name(options: Dict[str, Any]) -> str:
    name = options.get("driver", "auto")
    if name not in DRIVERS:
        raise InvalidArgument(f"lxcri.toml: [runtimes.lxc] driver = {name!r} is unknown: "
                              f"use one of {', '.join(DRIVERS)}")
    return str(name)


def _use_proxmox(options: Dict[str, Any]) -> bool:
    """Whether the Proxmox driver serves these options."""
    name = _driver_name(options)
    if name != "auto":
        return name == "proxmox"
    from lxcri.backends.lxc import proxmox

    return proxmox.selected(options)


def availability(options: Dict[str, Any]) -> Tuple[bool, str]:
    """(True, "what serves it") or (False, "why not, and the fix"); never raises."""
    options = dict(options or {})
    try:
        if _use_proxmox(options):
            from lxcri.backends.lxc import proxmox

            return proxmox.availability(options)
    except Exception as exc:  # noqa: BLE001 - availability must not raise
        return False, str(exc)
    from lxcri.backends.lxc import liblxc

    return liblxc.availability(options)


class LxcBackend:
    """The Backend protocol (lxcri.backends.base) on top of the selected LXC driver."""

    name = "lxc"

    def __init__(self, root: str, *, debug: bool = False, systemd_cgroup: bool = False,
                 force_no_cgroup: bool = False, log: Optional[str] = None,
                 log_format: str = "text", log_level: Optional[str] = None,
                 options: Optional[Dict[str, Any]] = None) -> None:
        self.root = root
        self.options = dict(options or {})
        self.debug = debug or log_level == "debug"
        if _use_proxmox(self.options):
            from lxcri.backends.lxc.proxmox.driver import ProxmoxDriver

            self.driver: Any = ProxmoxDriver(root, self.options, debug=self.debug)
        else:
            from lxcri.backends.lxc.liblxc.driver import LiblxcDriver

            self.driver = LiblxcDriver(root, self.options, debug=self.debug)

    def run(self, id: str, options: RunOptions) -> int:
        return int(self.driver.run(id, options))

    def create(self, id: str, options: CreateOptions) -> None:
        self.driver.create(id, options)

    def start(self, id: str, *, notify_socket: Optional[str] = None) -> None:
        self.driver.start(id)

    def state_json(self, id: str) -> str:
        return str(self.driver.state_json(id))

    def kill(self, id: str, signal: int, *, all: bool = False) -> None:  # noqa: A002
        self.driver.kill(id, signal, all=all)

    def delete(self, id: str, *, force: bool = False) -> None:
        self.driver.delete(id, force=force)

    def list(self) -> List[Dict[str, Any]]:
        return list(self.driver.list())

    def exec(self, id: str, options: ExecOptions) -> int:
        return int(self.driver.exec(id, options))

    def ps(self, id: str) -> List[int]:
        return list(self.driver.ps(id))

    def pause(self, id: str) -> None:
        self.driver.pause(id)

    def resume(self, id: str) -> None:
        self.driver.resume(id)

    def update(self, id: str, resources_json: str) -> None:
        self.driver.update(id, resources_json)

    def features(self) -> Dict[str, Any]:
        return dict(self.driver.features())
