"""lxcri.host.real.Host: the real host, as the drivers ask it (see lxcri.host)."""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, List, Optional


class Host:
    """The real host: processes, signals and cgroup files through /proc, /sys and os."""

    def starttime(self, pid: int) -> Optional[str]:
        """The process's start time (stat field 22); None when it is gone or a zombie."""
        from lxcri.host import procfs

        return procfs.starttime(pid)

    def alive(self, pid: int, starttime: Optional[str]) -> bool:
        """Whether process pid is still the one that started at `starttime`."""
        return pid > 0 and starttime is not None and self.starttime(pid) == starttime

    def wait_gone(self, pid: int, starttime: Optional[str], timeout: float) -> bool:
        """Wait until process pid (not necessarily a child) has exited; False on timeout."""
        if not self.alive(pid, starttime):
            return True
        import os
        import select

        try:
            fd = os.pidfd_open(pid)
        except OSError:
            return True
        try:
            if not self.alive(pid, starttime):  # the pid may have been reused before pidfd_open
                return True
            p = select.poll()
            p.register(fd, select.POLLIN)
            return bool(p.poll(int(timeout * 1000)))
        finally:
            os.close(fd)

    def kill(self, pid: int, signal: int) -> None:
        """os.kill; ProcessLookupError when the process is gone."""
        import os

        os.kill(pid, signal)

    def cgroup_dirs(self, pid: int) -> Dict[str, str]:
        """Controller (or "" for v2) -> the host directory of process pid's cgroup there."""
        from lxcri.host import cgroups

        return cgroups.cgroup_dirs(pid)

    def cgroup_pids(self, directory: str) -> List[int]:
        """Every pid in the cgroup at directory and below."""
        from lxcri.host import cgroups

        return cgroups.cgroup_pids(directory)

    def pve_ct_pids(self, vmid: int) -> List[int]:
        """Every pid of Proxmox CT vmid on this node (its cgroups under /sys/fs/cgroup/lxc)."""
        from lxcri.host import cgroups

        return cgroups.pve_ct_pids(vmid)

    def hierarchies(self) -> Dict[str, int]:
        """Which cgroup hierarchy (1 or 2) each controller lives on here."""
        from lxcri.host import cgroups

        return cgroups.host_hierarchies()

    def read(self, path: str) -> Optional[str]:
        """A host file's text (a cgroup file); None when it does not exist."""
        from lxcri.host import procfs

        return procfs.read_text(path)

    def write(self, path: str, text: str) -> None:
        """Write a host file (a cgroup file) in place; OSError as the kernel says."""
        with open(path, "w") as f:
            f.write(text)
