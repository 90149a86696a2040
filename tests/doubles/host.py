"""TEST DOUBLE for lxcri.host.real.Host: a scripted host that records what a driver asks of it.

Processes are {pid: starttime} (a pid missing is gone), cgroups {pid: {controller: dir}},
files {path: text}, ct_members {vmid: [pid]} (a Proxmox CT's processes); kill() records
(pid, signal) and raises ProcessLookupError for a gone pid, as os.kill does; write()
records (path, text) and updates files.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple


class RecordingHost:
    """TEST DOUBLE: what lxcri.host.real.Host answers, from dicts; every call is recorded."""

    def __init__(self, processes: Optional[Dict[int, str]] = None,
                 cgroups: Optional[Dict[int, Dict[str, str]]] = None,
                 files: Optional[Dict[str, str]] = None,
                 cgroup_members: Optional[Dict[str, List[int]]] = None,
                 hierarchies: Optional[Dict[str, int]] = None,
                 ct_members: Optional[Dict[int, List[int]]] = None) -> None:
        self.processes = dict(processes or {})
        self.cgroups = dict(cgroups or {})
        self.files = dict(files or {})
        self.cgroup_members = dict(cgroup_members or {})
        self.ct_members = dict(ct_members or {})
        self._hierarchies = dict(hierarchies or {"memory": 2, "pids": 2, "freezer": 2})
        self.calls: List[Tuple[object, ...]] = []
        self.killed: List[Tuple[int, int]] = []
        self.written: List[Tuple[str, str]] = []

    def starttime(self, pid: int) -> Optional[str]:
        self.calls.append(("starttime", pid))
        return self.processes.get(pid)

    def alive(self, pid: int, starttime: Optional[str]) -> bool:
        return pid > 0 and starttime is not None and self.starttime(pid) == starttime

    def wait_gone(self, pid: int, starttime: Optional[str], timeout: float) -> bool:
        self.calls.append(("wait_gone", pid, timeout))
        return not self.alive(pid, starttime)

    def kill(self, pid: int, signal: int) -> None:
        self.calls.append(("kill", pid, signal))
        if pid not in self.processes:
            raise ProcessLookupError(3, "No such process")
        self.killed.append((pid, signal))

    def cgroup_dirs(self, pid: int) -> Dict[str, str]:
        self.calls.append(("cgroup_dirs", pid))
        return dict(self.cgroups.get(pid, {}))

    def cgroup_pids(self, directory: str) -> List[int]:
        self.calls.append(("cgroup_pids", directory))
        return list(self.cgroup_members.get(directory, []))

    def pve_ct_pids(self, vmid: int) -> List[int]:
        self.calls.append(("pve_ct_pids", vmid))
        return sorted(self.ct_members.get(vmid, []))

    def hierarchies(self) -> Dict[str, int]:
        return dict(self._hierarchies)

    def read(self, path: str) -> Optional[str]:
        self.calls.append(("read", path))
        return self.files.get(path)

    def write(self, path: str, text: str) -> None:
        self.calls.append(("write", path, text))
        self.written.append((path, text))
        self.files[path] = text
