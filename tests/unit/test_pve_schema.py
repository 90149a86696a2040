"""The PVE 9 parameter check the test doubles use (tests/doubles/pve_schema.py): what it
refuses, what it accepts (what lxcri's driver really sends), and that both fakes act on it."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Dict

import pytest

from doubles import pve_schema
from doubles.fake_pve import FakePve
from proxmox_support import (
    SECRET,
    TOKEN_ID,
    FakeNode,
    api_driver,
    cert_dir,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.filterwarnings("ignore:Unverified HTTPS request")

S = pve_schema.load()
CREATE = "/nodes/{node}/lxc"
CONFIG = "/nodes/{node}/lxc/{vmid}/config"
NODE = {"node": "pve1"}


def create_params(**extra: str) -> Dict[str, str]:
    """A create request as the driver sends it (form values are strings)."""
    params = {"vmid": "100", "ostemplate": "local:vztmpl/lxcri-0a1b2c3d4e5f.tar.gz",
              "hostname": "app1", "ostype": "unmanaged", "unprivileged": "1",
              "rootfs": "local-lvm:8", "net0": "name=eth0,bridge=vmbr0,ip=dhcp",
              "tags": "lxcri", "description": "lxcri container app; bundle /srv/b.",
              "memory": "512", "swap": "256", "cores": "4", "cpulimit": "1.5",
              "cpuunits": "39", "mp0": "/srv/data,mp=/data", "mp1": "/etc/app,mp=/conf,ro=1",
              "entrypoint": "/bin/app --name 'a b'", "env": "PATH=/bin\0MODE=prod"}
    params.update(extra)
    return params


def errors(params: Dict[str, str], template: str = CREATE, method: str = "POST") -> Dict[str, str]:
    return S.check_params(template, method, params, NODE)


# -- the data -----------------------------------------------------------------------------------

def test_the_copied_schema_says_where_it_came_from() -> None:
    prov = S.provenance
    assert "apidata.js" in prov["source"] and "PVE 9" in prov["source"]
    assert "April 2026" in prov["source"] and "sha256" in prov["copied_from"]


def test_the_schema_covers_exactly_what_the_driver_calls() -> None:
    assert {(t, m) for t, ms in S.paths.items() for m in ms} == {
        ("/version", "GET"), ("/cluster/nextid", "GET"),
        ("/nodes/{node}/storage/{storage}/upload", "POST"),
        ("/nodes/{node}/storage/{storage}/content/{volume}", "DELETE"),
        (CREATE, "POST"), ("/nodes/{node}/lxc/{vmid}", "DELETE"),
        (CONFIG, "GET"), (CONFIG, "PUT"),
        ("/nodes/{node}/lxc/{vmid}/status/current", "GET"),
        ("/nodes/{node}/lxc/{vmid}/status/start", "POST"),
        ("/nodes/{node}/lxc/{vmid}/status/stop", "POST"),
        ("/nodes/{node}/lxc/{vmid}/status/shutdown", "POST"),
        ("/nodes/{node}/tasks/{upid}/status", "GET"),
    }


def test_perl_patterns_are_anchored_as_pve_anchors_them() -> None:
    env = pve_schema.perl_pattern(r"(?^:(?:\w+=[^\x00-\x08\x10-\x1F\x7F]*)(?:\0\w+=[^\x00-\x08\x10-\x1F\x7F]*)*)")
    assert env.pattern.startswith("^(?:(?:") and env.match("A=1\0B=2")
    assert not env.match("A=1\0") and not env.match("A-B=1")
    mode = pve_schema.perl_pattern("0[0-7]{3}")  # a bare pattern: anchored all the same
    assert mode.match("0755") and not mode.match("00755") and not mode.match("0755x")
    assert mode.match("0755\n")  # Perl's `$` (and Python's) takes one final newline, as PVE does
    assert pve_schema.perl_pattern("(?^i:ab)").match("AB")


# -- refusals -----------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, param, message", [
    ({"bogus": "1"}, "bogus", "property is not defined in schema"),
    ({"net32x": "name=eth1"}, "net32x", "property is not defined in schema"),
    ({"net01": "name=eth1"}, "net01", "property is not defined in schema"),
    ({"ostype": "windows"}, "ostype", "value 'windows' does not have a value in the enumeration"),
    ({"entrypoint": "/bin/app \x1b[0m"}, "entrypoint", "value does not match the regex pattern"),
    ({"env": "MY-VAR=1"}, "env", "value does not match the regex pattern"),
    ({"memory": "8"}, "memory", "value must have a minimum value of 16"),
    ({"cores": "0"}, "cores", "value must have a minimum value of 1"),
    ({"cpulimit": "9000"}, "cpulimit", "value must have a maximum value of 8192"),
    ({"vmid": "99"}, "vmid", "value must have a minimum value of 100"),
    ({"memory": "1.5"}, "memory", "type check ('integer') failed - got '1.5'"),
    ({"cpulimit": "lots"}, "cpulimit", "type check ('number') failed"),
    ({"unprivileged": "True"}, "unprivileged", "type check ('boolean') failed - got 'True'"),
    ({"unprivileged": "yes"}, "unprivileged", "type check ('boolean') failed"),
    ({"hostname": "a" * 256}, "hostname", "value may only be 255 characters long"),
    ({"net0": "name=eth0,bridgee=vmbr0"}, "net0", "invalid key in comma-separated list property: bridgee"),
    ({"net0": "bridge=vmbr0"}, "net0", "net0.name: property is missing and it is not optional"),
    ({"net0": "name=eth0,name=eth1"}, "net0", "duplicate key"),
    ({"net0": "name=eth0,tag=5000"}, "net0", "net0.tag: value must have a maximum value of 4094"),
    ({"net0": "name=eth0,type=macvlan"}, "net0", "net0.type: value 'macvlan' does not have a value"),
    ({"net0": "name=eth0,bridge="}, "net0", "missing key in comma-separated list property"),
    ({"net0": "eth0"}, "net0", "value without key, but schema does not define a default key"),
    ({"mp0": "/srv/data"}, "mp0", "mp0.mp: property is missing and it is not optional"),
    ({"mp0": "/srv/data,mp=/data,ro=maybe"}, "mp0", "mp0.ro: type check ('boolean') failed"),
    ({"rootfs": "local-lvm:8,local-lvm:9"}, "rootfs", "duplicate key in comma-separated list property: volume"),
    ({"rootfs": "local-lvm:8,mountoptions=noatime;bogus"}, "rootfs", "value does not match the regex pattern"),
    ({"features": "nesting=1,fuse=1,nfs=1"}, "features", "invalid key in comma-separated list property: nfs"),
])
def test_refuses_what_pve_9_refuses(extra: Dict[str, str], param: str, message: str) -> None:
    found = errors(create_params(**extra))
    assert list(found) == [param] and message in found[param]


def test_refuses_missing_required_parameters() -> None:
    params = create_params()
    del params["vmid"], params["ostemplate"]
    assert errors(params) == {"vmid": "property is missing and it is not optional",
                              "ostemplate": "property is missing and it is not optional"}
    upload = S.check("POST", "/nodes/pve1/storage/local/upload", {"filename": "x.tar.gz"})
    assert upload is not None and upload.status == 400
    assert upload.errors == {"content": "property is missing and it is not optional"}


def test_refuses_bad_path_parameters_and_unknown_paths() -> None:
    bad = S.check("GET", "/nodes/pve1/lxc/99/status/current", {})
    assert bad is not None and bad.errors == {"vmid": "value must have a minimum value of 100"}
    bad = S.check("GET", "/nodes/pve1/lxc/web/config", {})
    assert bad is not None and bad.errors == {"vmid": "type check ('integer') failed - got 'web'"}
    gone = S.check("POST", "/nodes/pve1/lxc/100/status/pause", {})
    assert gone is not None and (gone.status, gone.message) == (
        501, "Method 'POST /nodes/pve1/lxc/100/status/pause' not implemented")
    wrong_method = S.check("PUT", "/version", {})
    assert wrong_method is not None and wrong_method.status == 501
    # A path parameter wins over a body parameter of the same name, as in PVE.
    assert S.check("POST", "/nodes/pve1/lxc/100/status/start", {"vmid": "1"}) is None


def test_pct_booleans_take_pves_command_line_spellings() -> None:
    params = {"vmid": "100", "purge": "", "destroy-unreferenced-disks": "yes"}
    assert S.check_params("/nodes/{node}/lxc/{vmid}", "DELETE", params, NODE, cli=True) == {}
    params["purge"] = "maybe"
    assert S.check_params("/nodes/{node}/lxc/{vmid}", "DELETE", params, NODE, cli=True) == {
        "purge": "unable to parse boolean option"}


# -- what the driver sends ------------------------------------------------------------------------

def test_accepts_what_the_driver_sends() -> None:
    assert errors(create_params()) == {}
    assert errors(create_params(unprivileged="0", rootfs="tank:20")) == {}
    assert errors({"vmid": "100", "memory": "1024", "cpuunits": "79"}, CONFIG, "PUT") == {}
    upid = "UPID:pve1:00001001:00000001:60000001:vzcreate:100:lxcri@pve!runtime:"
    for method, path, params in [
        ("GET", "/version", {}),
        ("GET", "/cluster/nextid", {}),
        ("POST", "/nodes/pve1/storage/local/upload",
         {"content": "vztmpl", "filename": "lxcri-0a1b2c3d4e5f.tar.gz"}),
        ("DELETE", "/nodes/pve1/storage/local/content/local%3Avztmpl%2Flxcri-0a1b.tar.gz", {}),
        ("GET", "/nodes/pve1/lxc/100/status/current", {}),
        ("GET", "/nodes/pve1/lxc/100/config", {}),
        ("POST", "/nodes/pve1/lxc/100/status/start", {}),
        ("POST", "/nodes/pve1/lxc/100/status/stop", {}),
        ("POST", "/nodes/pve1/lxc/100/status/shutdown", {"timeout": "30", "forceStop": "1"}),
        ("DELETE", "/nodes/pve1/lxc/100", {"purge": "1", "destroy-unreferenced-disks": "1"}),
        ("GET", f"/nodes/pve1/tasks/{upid}/status", {}),
    ]:
        assert S.check(method, path, params) is None, (method, path)


def test_volume_ids_in_paths_are_percent_decoded() -> None:
    routed = S.route("/nodes/pve1/storage/local/content/local%3Avztmpl%2Fx.tar.gz")
    assert routed == ("/nodes/{node}/storage/{storage}/content/{volume}",
                      {"node": "pve1", "storage": "local", "volume": "local:vztmpl/x.tar.gz"})


# -- the fakes act on it --------------------------------------------------------------------------

def test_the_fake_api_answers_a_violation_as_pve_and_records_it(cert_dir: str,  # noqa: F811
                                                                tmp_path: Path) -> None:
    from lxcri.errors import ProxmoxError

    # Not the `pve` fixture: its teardown would (rightly) fail this test.
    with FakePve(cert_dir, token=f"PVEAPIToken={TOKEN_ID}={SECRET}") as pve:
        transport = api_driver(pve, tmp_path).transport
        pve.fail[("POST", r"/nodes/pve1/lxc/100/status/start")] = (500, "scripted")
        with pytest.raises(ProxmoxError) as info:
            transport._call("POST", "/nodes/pve1/lxc/100/status/start", skiplock=True)
        # The driver sees PVE's answer; the scripted failure never ran (PVE checks first).
        assert "400 Parameter verification failed. (skiplock: type check ('boolean') " \
               "failed - got 'True')" in info.value.message
        [(request, refusal)] = pve.violations
        assert request.path == "/nodes/pve1/lxc/100/status/start" and refusal.status == 400
        assert "skiplock" in pve.violation_report()


def test_the_fake_pct_refuses_a_violation_as_pct_and_records_it(tmp_path: Path) -> None:
    # Not the `node` fixture: its teardown would (rightly) fail this test.
    node = FakeNode(tmp_path)
    env = dict(os.environ, FAKE_PCT_DIR=str(node.state), FAKE_PVE_DIR=str(node.pve_dir))
    proc = subprocess.run([node.pct, "set", "100", "--memory", "8", "--cores", "2"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 255
    assert proc.stderr.splitlines() == ["400 Parameter verification failed.",
                                        "memory: value must have a minimum value of 16"]
    proc = subprocess.run([node.pct, "destroy", "100", "--purge", "1", "--bogus", "1"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 255 and "Unknown option: bogus" in proc.stderr
    assert [v["argv"][0] for v in node.violations()] == ["set", "destroy"]
    assert json.loads((node.state / "violations.jsonl").read_text().splitlines()[0])["errors"] == {
        "memory": "value must have a minimum value of 16"}
