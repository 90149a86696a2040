"""lxcri on a pure cgroup v2 host with systemd as pid 1: a Debian 13 QEMU guest.

This machine (hybrid cgroup v1, no systemd) cannot take the cgroup v2 and
systemd-cgroup paths that every Proxmox VE host takes, and a chroot shares its
cgroups. scripts/guest-smoke.sh boots a trixie root ($LXCRI_GUEST_ROOT, default
build/debian13/full: a root made by scripts/debian-root.sh with lxcri's clone and
.venv at /root/lxcri) under QEMU and runs scripts/guest-smoke-inside.py there; each
check prints one PASS/FAIL line. It takes minutes under TCG, so `make test` leaves
it out (marker `guest`); `make guest-smoke` runs it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support import needs_root

pytestmark = [pytest.mark.integration, pytest.mark.core, pytest.mark.guest]

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("LXCRI_GUEST_ROOT") or REPO / "build" / "debian13" / "full")
CHECKS = ("platform", "demo", "memory-limit", "update", "systemd-cgroup", "podman-systemd",
          "lxc-memory")
# The harness's own VM timeout is 600 s; image making and apt come on top.
TIMEOUT = 1200


def qemu_pids() -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"lxcri-guest-smoke" in f.read():
                    found.add(int(entry))
        except (OSError, ValueError):
            continue
    return found


def test_guest_smoke() -> None:
    needs_root()
    for tool in ("qemu-system-x86_64", "mkfs.ext4"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} missing (`make guest-smoke` installs qemu-system-x86, e2fsprogs)")
    if not (ROOT / "root" / "lxcri" / ".venv" / "bin" / "lxcri").exists():
        pytest.skip(f"no Debian 13 root with lxcri built at {ROOT}/root/lxcri "
                    "(set LXCRI_GUEST_ROOT)")
    before = qemu_pids()
    # Logs (console.log, results.log) and the cached initramfs go to build/guest.
    out = Path(os.environ.get("LXCRI_GUEST_OUT") or REPO / "build" / "guest")
    proc = subprocess.run(["sh", str(REPO / "scripts" / "guest-smoke.sh"), str(ROOT)],
                          env={**os.environ, "LXCRI_GUEST_OUT": str(out)}, cwd=REPO,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TIMEOUT)
    report = proc.stdout + proc.stderr
    lines = {line.split(":", 1)[0].split(" ", 1)[1]: line
             for line in proc.stdout.splitlines() if line.startswith(("PASS ", "FAIL "))}
    assert set(lines) == set(CHECKS), report
    failed = [lines[c] for c in CHECKS if not lines[c].startswith("PASS ")]
    assert not failed and proc.returncode == 0, "\n".join(failed) + "\n\n" + report
    # Nothing left: no QEMU of the harness, no disk image (it uses no loop device or mount).
    assert qemu_pids() <= before
    assert not list(out.glob("*.img.*")), sorted(os.listdir(out))
