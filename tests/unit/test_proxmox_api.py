"""The Proxmox driver over the REST API, against the fake PVE API server (a TEST DOUBLE,
tests/doubles/fake_pve.py): request shapes, the token header, task polling, errors."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from doubles.fake_pve import FakePve
from lxcri.backends.lxc import proxmox
from lxcri.backends.lxc.proxmox.driver import SHUTDOWN_TIMEOUT, ProxmoxDriver
from lxcri.errors import (
    BackendUnavailable,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    InvalidBundle,
    LxcriError,
)
from lxcri.options import CreateOptions, ExecOptions, RunOptions
from proxmox_support import SECRET, TOKEN_ID, api_driver, api_options, cert_dir, make_bundle, pve  # noqa: F401  (fixtures)

# The fake serves a throwaway self-signed certificate; verify_ssl = false is what the tests use.
pytestmark = pytest.mark.filterwarnings("ignore:Unverified HTTPS request")


def create(driver: ProxmoxDriver, tmp_path: Path, id: str = "lxc-db-1", **kw: object) -> Path:
    bundle = make_bundle(tmp_path, name=f"b-{id}", **kw)  # type: ignore[arg-type]
    driver.create(id, CreateOptions(str(bundle), str(bundle / "config.json")))
    return bundle


def test_every_request_carries_the_api_token(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    assert pve.requests
    assert {r.auth for r in pve.requests} == {f"PVEAPIToken={TOKEN_ID}={SECRET}"}


def test_create_uploads_the_rootfs_and_maps_the_config(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    bundle = create(driver, tmp_path)
    [upload] = pve.calls("POST", r"/storage/local/upload$")
    assert upload.path == f"/nodes/{pve.node}/storage/local/upload"
    assert upload.params["content"] == "vztmpl"
    name, data = upload.files["filename"]
    assert name.startswith("lxcri-") and name.endswith(".tar.gz")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {"./bin/app", "./etc/hostname"} <= set(tar.getnames())
    [made] = pve.calls("POST", r"/lxc$")
    p = made.params
    assert p["vmid"] == "100" and p["ostemplate"] == f"local:vztmpl/{name}"
    assert (p["hostname"], p["memory"], p["unprivileged"], p["ostype"]) == ("app1", "512", "1", "unmanaged")
    assert (p["rootfs"], p["net0"]) == ("local-lvm:8", "name=eth0,bridge=vmbr0,ip=dhcp")
    assert "entrypoint" not in p  # /sbin/init: a system container
    # the template is removed once the CT has its copy; lxcri's own copy too
    [gone] = pve.calls("DELETE", r"/content/")
    assert gone.path.endswith(f"/content/local:vztmpl/{name}")
    assert pve.storage == {}
    assert not os.listdir(tmp_path / "state" / ".lxcri" / "lxc" / "proxmox" / "templates")
    state = json.loads(driver.state_json("lxc-db-1"))
    assert state["status"] == "created" and state["pid"] == 0
    assert state["bundle"] == str(bundle)
    assert state["annotations"]["lxcri.proxmox.vmid"] == "100"
    assert state["annotations"]["org.example/team"] == "db"


def test_application_gets_entrypoint_and_nul_separated_env(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)

    def edit(c: dict) -> None:
        c["process"]["args"] = ["/bin/app", "--name", "a b"]
        c["process"]["env"] = ["PATH=/bin", "MODE=prod"]
    create(driver, tmp_path, edit=edit)
    [made] = pve.calls("POST", r"/lxc$")
    assert made.params["entrypoint"] == "/bin/app --name 'a b'"
    assert made.params["env"] == "PATH=/bin\0MODE=prod"


def test_entrypoint_on_old_pve_is_refused_before_anything_is_made(pve: FakePve, tmp_path: Path) -> None:
    pve.version = "8.4.1"
    driver = api_driver(pve, tmp_path)
    with pytest.raises(InvalidBundle, match=r"process\.args: .*9\.1.*8\.4\.1"):
        create(driver, tmp_path, edit=lambda c: c["process"].update(args=["/bin/app"]))
    assert not pve.calls("POST") and driver.list() == []


def test_what_pve_9_would_refuse_is_refused_before_anything_is_sent(pve: FakePve,
                                                                    tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    with pytest.raises(InvalidBundle, match=r"process\.env\[1\]: 'MY-VAR' is not a variable name"):
        create(driver, tmp_path, edit=lambda c: c["process"].update(
            args=["/bin/app"], env=["PATH=/bin", "MY-VAR=1"]))
    assert not pve.calls("POST") and driver.list() == []


def test_tasks_are_polled_until_stopped(pve: FakePve, tmp_path: Path) -> None:
    pve.task_polls = 3
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    polls = pve.calls("GET", r"/tasks/UPID:[^/]+:vzcreate:100:[^/]*/status$")
    assert len(polls) == 4  # three "running", then "stopped"
    assert 100 in pve.cts   # the fake makes the CT when its task completes
    assert driver.transport.clock.sleeps >= 3


def test_task_timeout(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path, task_timeout=5)
    create(driver, tmp_path)
    pve.never_finish = True
    with pytest.raises(LxcriError, match=r"cannot start container `lxc-db-1` \(CT 100\): Proxmox "
                       r"task start CT 100 did not finish within 5 s .*task_timeout"):
        driver.start("lxc-db-1")


def test_lifecycle_start_kill_delete(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    driver.start("lxc-db-1")
    assert pve.calls("POST", r"/lxc/100/status/start$")
    state = json.loads(driver.state_json("lxc-db-1"))
    assert (state["status"], state["pid"]) == ("running", 4342)
    with pytest.raises(ContainerStateError, match="it is running"):
        driver.start("lxc-db-1")
    with pytest.raises(InvalidArgument, match="only stop \\(KILL\\) or shut down \\(TERM\\)"):
        driver.kill("lxc-db-1", 1)
    driver.kill("lxc-db-1", 15)
    [shutdown] = pve.calls("POST", r"/status/shutdown$")
    assert shutdown.params == {"timeout": str(SHUTDOWN_TIMEOUT), "forceStop": "1"}
    assert json.loads(driver.state_json("lxc-db-1"))["status"] == "stopped"
    with pytest.raises(ContainerStateError, match="not running"):
        driver.kill("lxc-db-1", 9)
    driver.delete("lxc-db-1")
    [destroy] = pve.calls("DELETE", r"/lxc/100$")
    assert destroy.params == {"purge": "1", "destroy-unreferenced-disks": "1"}
    assert pve.cts == {}
    with pytest.raises(ContainerNotFound):
        driver.state_json("lxc-db-1")


def test_kill_9_stops_and_delete_force_stops_first(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    driver.start("lxc-db-1")
    with pytest.raises(ContainerStateError, match="running; stop it first"):
        driver.delete("lxc-db-1")
    driver.delete("lxc-db-1", force=True)
    assert [r.path.rsplit("/", 1)[-1] for r in pve.calls("POST", r"/status/")] == ["start", "stop"]
    assert pve.cts == {}


def test_errors_carry_proxmoxs_message(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    pve.fail[("POST", r"/nodes/pve1/lxc/100/status/start")] = (
        500, "CT 100: storage 'local-lvm' is not online")
    with pytest.raises(LxcriError) as info:
        driver.start("lxc-db-1")
    assert str(info.value) == ("cannot start container `lxc-db-1` (CT 100): Proxmox API POST "
                               "/nodes/pve1/lxc/100/status/start: 500 CT 100: storage "
                               "'local-lvm' is not online")
    assert info.value.container_id == "lxc-db-1"


def test_failed_create_task_is_rolled_back(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    pve.fail_task["vzcreate"] = "unable to create CT 100 - no space left on device"
    with pytest.raises(LxcriError, match=r"cannot create container `lxc-db-1` \(CT 100\): Proxmox "
                       r"task create CT 100 failed: unable to create CT 100 - no space left"):
        create(driver, tmp_path)
    assert pve.cts == {} and pve.storage == {}  # no CT, template removed
    assert driver.list() == []                  # no record: the id is free again
    pve.fail_task.clear()
    create(driver, tmp_path)
    assert json.loads(driver.state_json("lxc-db-1"))["status"] == "created"


def test_parameter_errors_name_the_parameter(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    pve.fail[("POST", r"/nodes/pve1/lxc")] = (400, "Parameter verification failed.",
                                             {"net0": "invalid format - bridge 'vmbr9' missing"})
    with pytest.raises(LxcriError, match=r"400 Parameter verification failed\. \(net0: invalid "
                       r"format - bridge 'vmbr9' missing\)"):
        create(driver, tmp_path)
    assert driver.list() == [] and pve.storage == {}


def test_vmid_race_takes_the_next_id(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    # Another client takes VMID 100 between nextid and create: nextid still says 100 once.
    real = pve.handle
    raced = []

    def racing(method, path, params, files):  # type: ignore[no-untyped-def]
        if method == "POST" and path.endswith("/lxc") and not raced:
            raced.append(params["vmid"])
            return 500, "CT 100 already exists on node 'pve1'", None, None
        return real(method, path, params, files)
    pve.handle = racing  # type: ignore[method-assign]
    pve.next_id = 100
    bundle = make_bundle(tmp_path)
    driver.create("a", CreateOptions(str(bundle), str(bundle / "config.json")))
    assert raced == ["100"]
    assert json.loads(driver.state_json("a"))["annotations"]["lxcri.proxmox.vmid"] == "100"
    assert len(pve.calls("POST", r"/lxc$")) == 2


def test_duplicate_id_is_refused(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    before = len(pve.requests)
    with pytest.raises(ContainerExists, match="already exists"):
        create(driver, tmp_path)
    assert not pve.calls("POST", r"/lxc$")[1:]  # nothing sent to make a second CT
    assert len(pve.requests) - before <= 1      # at most the /version probe


def test_wrong_token_is_a_clear_error(pve: FakePve, tmp_path: Path) -> None:
    pve.expected_auth = "PVEAPIToken=lxcri@pve!runtime=other"
    driver = api_driver(pve, tmp_path)
    with pytest.raises(LxcriError, match=r"401 invalid token value!; check token_id and the token secret"):
        create(driver, tmp_path)


def test_certificate_check_is_on_by_default(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path, verify_ssl=True)
    with pytest.raises(LxcriError, match=r"cannot reach the Proxmox API at https://127\.0\.0\.1:\d+ "
                       r".*verify_ssl = false"):
        create(driver, tmp_path)


def test_vmid_changed_hands_is_left_alone(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    pve.cts[100]["config"]["description"] = "someone else's guest"
    with pytest.raises(ContainerStateError, match=r"CT 100 does not carry lxcri's marker"):
        driver.delete("lxc-db-1")
    driver.delete("lxc-db-1", force=True)  # forgets the container ...
    assert 100 in pve.cts                  # ... and leaves the CT alone
    assert not pve.calls("DELETE", r"/lxc/100$")
    assert driver.list() == []


def test_ct_removed_in_pve_reads_as_stopped_and_deletes(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    pve.cts.clear()
    assert json.loads(driver.state_json("lxc-db-1"))["status"] == "stopped"
    driver.delete("lxc-db-1")
    assert driver.list() == []


def test_update_sets_ct_options(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    driver.update("lxc-db-1", json.dumps({"memory": {"limit": 1 << 30}, "cpu": {"shares": 2048}}))
    [put] = pve.calls("PUT", r"/lxc/100/config$")
    assert put.params == {"memory": "1024", "cpuunits": "79"}


def test_what_a_remote_ct_cannot_do(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    create(driver, tmp_path)
    with pytest.raises(LxcriError, match="only on the Proxmox node that runs the CT"):
        driver.exec("lxc-db-1", ExecOptions(str(tmp_path / "process.json")))
    with pytest.raises(LxcriError, match="Proxmox has no freeze"):
        driver.pause("lxc-db-1")
    with pytest.raises(InvalidArgument, match="--console-socket"):
        driver.create("b", CreateOptions(str(tmp_path), str(tmp_path / "config.json"), console_socket="/x.sock"))
    with pytest.raises(InvalidArgument, match="--preserve-fds"):
        driver.create("b", CreateOptions(str(tmp_path), str(tmp_path / "config.json"), preserve_fds=1))
    with pytest.raises(InvalidArgument, match="foreground"):
        driver.run("b", RunOptions(str(tmp_path), str(tmp_path / "config.json")))


def test_run_detached_creates_and_starts(pve: FakePve, tmp_path: Path) -> None:
    driver = api_driver(pve, tmp_path)
    bundle = make_bundle(tmp_path)
    assert driver.run("r", RunOptions(str(bundle), str(bundle / "config.json"), detach=True)) == 0
    assert json.loads(driver.state_json("r"))["status"] == "running"


def test_the_map_survives_a_new_driver(pve: FakePve, tmp_path: Path) -> None:
    first = api_driver(pve, tmp_path)
    create(first, tmp_path, "one")
    create(first, tmp_path, "two")
    second = api_driver(pve, tmp_path)
    states = {s["id"]: s for s in second.list()}
    assert {k: v["annotations"]["lxcri.proxmox.vmid"] for k, v in states.items()} == {
        "one": "100", "two": "101"}


def test_availability_and_selection(pve: FakePve, tmp_path: Path) -> None:
    options = api_options(pve, tmp_path)
    assert proxmox.selected(options)
    ok, text = proxmox.availability(options)
    assert ok and text == f"Proxmox API https://127.0.0.1:{pve.port} node pve1"
    del options["proxmox"]["node"]
    assert proxmox.availability(options) == (False, "[runtimes.lxc.proxmox] names an endpoint but no node")
    with pytest.raises(BackendUnavailable, match="no node"):
        ProxmoxDriver(str(tmp_path), options)
    no_secret = {"proxmox": {"endpoint": "pve", "node": "n", "token_id": TOKEN_ID,
                             "token_secret_file": str(tmp_path / "missing")}}
    ok, text = proxmox.availability(no_secret)
    assert not ok and "token_secret_file" in text and "No such file" in text
    assert proxmox.availability({"proxmox": {"endpoint": "http://pve", "node": "n",
                                             "token_id": TOKEN_ID, "token_secret": "x"}})[0] is False
    assert proxmox.selected({"proxmox": "garbage"}) is False
    assert proxmox.selected({"proxmox": {"pct": "/nonexistent/pct"}}) is False
