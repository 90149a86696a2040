"""The Proxmox driver on a PVE node through `pct`, against the fake pct and a fake /etc/pve
(TEST DOUBLES, tests/doubles/pct): argv shapes, state, errors, exec, the VMID map."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from doubles.host import RecordingHost
from lxcri.backends.lxc import proxmox
from lxcri.backends.lxc.proxmox.driver import ProxmoxDriver
from lxcri.backends.lxc.proxmox.records import VmidMap
from lxcri.errors import ContainerExists, ContainerStateError, InvalidArgument, LxcriError
from lxcri.options import CreateOptions, ExecOptions
from proxmox_support import (
    FakeNode,
    make_bundle,
    node,  # noqa: F401  (fixture)
)


def driver_on(node: FakeNode, tmp_path: Path, **extra: object) -> ProxmoxDriver:
    return ProxmoxDriver(str(tmp_path / "state"), node.options(**extra))


def create(driver: ProxmoxDriver, tmp_path: Path, id: str = "lxc-web", **kw: object) -> Path:
    bundle = make_bundle(tmp_path, name=f"b-{id[:20]}", **kw)  # type: ignore[arg-type]
    driver.create(id, CreateOptions(str(bundle), str(bundle / "config.json")))
    return bundle


def test_node_is_detected_by_pct_and_pmxcfs(node: FakeNode, tmp_path: Path) -> None:
    assert proxmox.selected(node.options())
    ok, text = proxmox.availability(node.options())
    assert ok and text.startswith(f"pct {node.pct} on PVE node ")
    (node.pve_dir / ".vmlist").unlink()  # /etc/pve without pmxcfs mounted
    assert not proxmox.selected(node.options())
    ok, text = proxmox.availability(node.options())
    assert not ok and "not a Proxmox VE node" in text


def test_create_start_state_delete_by_pct(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    [call] = node.calls()
    assert call[:2] == ["create", "100"]
    template = call[2]
    assert template.startswith(str(tmp_path / "state" / ".lxcri" / "lxc" / "proxmox" / "templates"))
    assert not os.path.exists(template)  # removed once the CT has its copy
    opts = dict(zip(call[3::2], call[4::2]))
    assert opts["--hostname"] == "app1" and opts["--memory"] == "512"
    assert opts["--ostype"] == "unmanaged" and opts["--unprivileged"] == "1"
    assert opts["--net0"] == "name=eth0,bridge=vmbr0,ip=dhcp" and opts["--rootfs"] == "local-lvm:8"
    assert {"./bin/app", "./etc/hostname"} <= set(node.ct(100)["members"])
    assert node.used_vmids() == ["100"]
    assert json.loads(driver.state_json("lxc-web"))["status"] == "created"
    driver.start("lxc-web")
    assert node.calls()[-1] == ["start", "100"]
    assert json.loads(driver.state_json("lxc-web"))["status"] == "running"
    driver.kill("lxc-web", 9)  # no init pid known: KILL stops the CT
    assert node.calls()[-1] == ["stop", "100"]
    assert json.loads(driver.state_json("lxc-web"))["status"] == "stopped"
    driver.delete("lxc-web")
    assert node.calls()[-1] == ["destroy", "100", "--purge", "1",
                                "--destroy-unreferenced-disks", "1"]
    assert node.used_vmids() == [] and driver.list() == []


def test_next_vmid_skips_used_ones(node: FakeNode, tmp_path: Path) -> None:
    (node.pve_dir / ".vmlist").write_text(json.dumps({"version": 3, "ids": {
        "100": {"node": "other", "type": "qemu"}, "101": {"node": "other", "type": "lxc"}}}))
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    assert json.loads(driver.state_json("lxc-web"))["annotations"]["lxcri.proxmox.vmid"] == "102"


def test_application_env_goes_into_the_ct_config(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)

    def edit(c: dict) -> None:
        c["process"]["args"] = ["/bin/app", "-v"]
        c["process"]["env"] = ["PATH=/bin", "MODE=a b"]
    create(driver, tmp_path, edit=edit)
    call = node.calls()[0]
    assert call[call.index("--entrypoint") + 1] == "/bin/app -v"
    conf = (node.pve_dir / "lxc" / "100.conf").read_text().splitlines()
    assert conf[-2:] == ["lxc.environment.runtime: PATH=/bin", "lxc.environment.runtime: MODE=a b"]


def test_pct_errors_carry_its_message_and_roll_back(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    node.fail("create", "unable to create CT 100 - storage 'local-lvm' does not exist")
    with pytest.raises(LxcriError) as info:
        create(driver, tmp_path)
    assert str(info.value) == ("cannot create container `lxc-web` (CT 100): `pct create 100` "
                               "failed: unable to create CT 100 - storage 'local-lvm' does not exist")
    assert driver.list() == []
    assert not os.listdir(tmp_path / "state" / ".lxcri" / "lxc" / "proxmox" / "templates")


def test_failed_start_keeps_the_container_created(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    node.fail("start", "startup for container '100' failed")
    with pytest.raises(LxcriError, match=r"cannot start container `lxc-web` \(CT 100\): `pct "
                       r"start 100` failed: startup for container '100' failed"):
        driver.start("lxc-web")
    assert json.loads(driver.state_json("lxc-web"))["status"] == "created"


def test_signals_go_to_the_ct_init_on_the_node(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    driver.start("lxc-web")
    init = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        node.edit_ct(100, pid=init.pid)
        state = json.loads(driver.state_json("lxc-web"))
        assert (state["status"], state["pid"]) == ("running", init.pid)
        driver.kill("lxc-web", signal.SIGUSR1)
        assert init.wait(timeout=30) == -signal.SIGUSR1
    finally:
        init.kill()
        init.wait()
    assert node.calls()[-1][0] == "config"  # the marker check; no pct stop


def test_kill_all_and_ps_ask_the_host_for_the_ct_processes(node: FakeNode, tmp_path: Path) -> None:
    host = RecordingHost(processes={4001: "1", 4002: "2"}, ct_members={100: [4001, 4002, 4003]})
    driver = ProxmoxDriver(str(tmp_path / "state"), node.options(), host=host)
    create(driver, tmp_path)
    driver.start("lxc-web")
    node.edit_ct(100, pid=4001)
    driver.kill("lxc-web", signal.SIGUSR1, all=True)
    assert host.killed == [(4001, signal.SIGUSR1), (4002, signal.SIGUSR1)]  # 4003 is gone
    assert ("pve_ct_pids", 100) in host.calls
    assert driver.ps("lxc-web") == [4001, 4002, 4003]
    host.killed.clear()
    driver.kill("lxc-web", signal.SIGUSR1)  # without all: the init alone
    assert host.killed == [(4001, signal.SIGUSR1)]
    assert node.calls()[-1][0] == "config"  # the marker check; no pct stop


def test_exec_runs_pct_exec(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    process = tmp_path / "process.json"
    process.write_text(json.dumps({"args": ["ls", "/"], "env": ["A=1"], "cwd": "/srv",
                                   "user": {"uid": 0, "gid": 0}}))
    with pytest.raises(ContainerStateError, match="not running"):
        driver.exec("lxc-web", ExecOptions(str(process)))
    driver.start("lxc-web")
    (node.state / "exec-exit").write_text("3")
    assert driver.exec("lxc-web", ExecOptions(str(process))) == 3
    assert node.calls()[-1] == ["exec", "100", "--", "env", "A=1", "/bin/sh", "-c",
                                'cd "$0" && exec "$@"', "/srv", "ls", "/"]
    process.write_text(json.dumps({"args": ["id"], "user": {"uid": 1000, "gid": 1000}}))
    with pytest.raises(InvalidArgument, match="user: pct exec runs commands as root only"):
        driver.exec("lxc-web", ExecOptions(str(process)))


def test_update_uses_pct_set(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path)
    driver.update("lxc-web", json.dumps({"cpu": {"quota": 50000, "period": 100000}}))
    assert node.calls()[-1] == ["set", "100", "--cpulimit", "0.5"]
    assert node.ct(100)["config"]["cpulimit"] == "0.5"


def test_vmid_map_is_atomic_and_survives_a_new_process(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    create(driver, tmp_path, "a")
    create(driver, tmp_path, "b" * 600)  # longer than a file name may be
    records = tmp_path / "state" / ".lxcri" / "lxc" / "proxmox" / "containers"
    names = sorted(os.listdir(records))
    assert "a.json" in names and any(n.startswith("sha256-") for n in names)
    assert not [n for n in names if n.endswith(".tmp")]
    # A fresh interpreter (as the next lxcri command would be) reads the same map.
    code = ("import json, sys; from lxcri.backends.lxc.proxmox.driver import ProxmoxDriver; "
            "d = ProxmoxDriver(sys.argv[1], json.loads(sys.argv[2])); "
            "print(json.dumps(sorted((s['id'][:3], s['annotations']['lxcri.proxmox.vmid']) "
            "for s in d.list())))")
    out = subprocess.run([sys.executable, "-P", "-c", code, str(tmp_path / "state"),
                          json.dumps(node.options())], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [["a", "100"], ["bbb", "101"]]
    with pytest.raises(ContainerExists):
        VmidMap(str(records)).claim("a", {"id": "a"})


def test_a_create_that_died_midway_can_be_deleted(node: FakeNode, tmp_path: Path) -> None:
    driver = driver_on(node, tmp_path)
    driver.records.claim("half", {"id": "half", "vmid": None, "phase": "creating"})
    assert json.loads(driver.state_json("half"))["status"] == "creating"
    driver.delete("half")
    assert driver.list() == []


def test_missing_pct_is_backend_unavailable(tmp_path: Path) -> None:
    ok, text = proxmox.availability({"proxmox": {"pct": str(tmp_path / "nope"),
                                                 "pve_dir": str(tmp_path)}})
    assert not ok and "not a Proxmox VE node" in text


def test_driver_key_decides_outright(node: FakeNode) -> None:
    assert proxmox.selected({**node.options(), "driver": "auto"})
    assert not proxmox.selected({**node.options(), "driver": "liblxc"})
    assert proxmox.selected({"driver": "proxmox"})  # then availability says what is missing
