"""Fixtures for the Proxmox driver tests: bundles, the fake PVE API, the fake pct.

Both fakes are TEST DOUBLES (tests/doubles/): Proxmox cannot run where lxcri is tested.
Both check what the driver sends against Proxmox VE 9's parameter schema; the `pve`
and `node` fixtures fail the test at teardown when anything PVE 9 would refuse was
sent, even if the test itself expected (and caught) the error.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from doubles.fake_pve import FakePve

SECRET = "5ec2e7-0000-4d1e-9a1b-feedfacecafe"
TOKEN_ID = "lxcri@pve!runtime"
DOUBLES = Path(__file__).resolve().parent.parent / "doubles"


class FakeClock:
    """Task polling without sleeping: each sleep advances the clock."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps = 0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.t += max(seconds, 1.0)


@pytest.fixture(scope="session")
def cert_dir() -> Iterator[str]:
    d = tempfile.mkdtemp(prefix="fake-pve-cert-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pve(cert_dir: str) -> Iterator[FakePve]:
    with FakePve(cert_dir, token=f"PVEAPIToken={TOKEN_ID}={SECRET}") as fake:
        yield fake
    assert not fake.violations, fake.violation_report()


def make_bundle(tmp_path: Path, edit: Optional[Callable[[Dict[str, Any]], None]] = None,
                name: str = "bundle") -> Path:
    bundle = tmp_path / name
    (bundle / "rootfs" / "bin").mkdir(parents=True, exist_ok=True)
    (bundle / "rootfs" / "etc").mkdir(exist_ok=True)
    (bundle / "rootfs" / "bin" / "app").write_text("#!/bin/sh\n")
    (bundle / "rootfs" / "etc" / "hostname").write_text("x\n")
    config: Dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {"terminal": False, "args": ["/sbin/init"], "env": ["PATH=/bin"], "cwd": "/"},
        "root": {"path": "rootfs"},
        "hostname": "app1",
        "annotations": {"org.example/team": "db"},
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
                  "resources": {"memory": {"limit": 512 * 1024 * 1024}}},
    }
    if edit is not None:
        edit(config)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def api_options(pve: FakePve, tmp_path: Path, **extra: Any) -> Dict[str, Any]:
    secret_file = tmp_path / "token.secret"
    secret_file.write_text(SECRET + "\n")
    section = {"endpoint": pve.endpoint, "node": pve.node, "token_id": TOKEN_ID,
               "token_secret_file": str(secret_file), "verify_ssl": False, "task_timeout": 30}
    section.update(extra)
    return {"proxmox": section}


def api_driver(pve: FakePve, tmp_path: Path, **extra: Any) -> Any:
    from lxcri.backends.lxc.proxmox.driver import ProxmoxDriver

    driver = ProxmoxDriver(str(tmp_path / "state"), api_options(pve, tmp_path, **extra))
    driver.transport.poll_interval = 0
    driver.transport.clock = FakeClock()
    return driver


class FakeNode:
    """A PVE node made of test doubles: the fake pct and a fake /etc/pve."""

    def __init__(self, tmp_path: Path) -> None:
        self.state = tmp_path / "pct-state"
        self.pve_dir = tmp_path / "etc-pve"
        self.state.mkdir()
        (self.pve_dir / "lxc").mkdir(parents=True)
        (self.pve_dir / ".vmlist").write_text(json.dumps({"version": 1, "ids": {}}))
        self.pct = str(DOUBLES / "pct")

    def options(self, **extra: Any) -> Dict[str, Any]:
        section = {"pct": self.pct, "pve_dir": str(self.pve_dir), "task_timeout": 30}
        section.update(extra)
        return {"proxmox": section}

    def calls(self) -> List[List[str]]:
        path = self.state / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def ct(self, vmid: int) -> Dict[str, Any]:
        return json.loads((self.state / "cts" / f"{vmid}.json").read_text())

    def edit_ct(self, vmid: int, **changes: Any) -> None:
        ct = self.ct(vmid)
        ct.update(changes)
        (self.state / "cts" / f"{vmid}.json").write_text(json.dumps(ct))

    def violations(self) -> List[Dict[str, Any]]:
        """pct calls Proxmox VE 9 would refuse (the fake pct keeps them in violations.jsonl)."""
        path = self.state / "violations.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines()]

    def fail(self, subcommand: str, message: str) -> None:
        (self.state / f"fail-{subcommand}").write_text(message)

    def used_vmids(self) -> List[str]:
        return sorted(json.loads((self.pve_dir / ".vmlist").read_text())["ids"])


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeNode]:
    fake = FakeNode(tmp_path)
    monkeypatch.setenv("FAKE_PCT_DIR", str(fake.state))
    monkeypatch.setenv("FAKE_PVE_DIR", str(fake.pve_dir))
    yield fake
    refused = fake.violations()
    assert not refused, "pct calls Proxmox VE 9 would refuse:\n" + "\n".join(
        f"  {v['argv']}: {v['errors']}" for v in refused)
