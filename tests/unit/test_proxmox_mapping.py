"""The OCI config.json -> Proxmox CT options mapping (a pure function; no Proxmox needed).
What it produces is also checked against PVE 9's parameter schema (tests/doubles/)."""
from __future__ import annotations

import copy
import shlex
from typing import Any, Dict

import pytest

from doubles import pve_schema
from lxcri.backends.lxc.proxmox import mapping as pm
from lxcri.errors import InvalidBundle

MIB = 1024 * 1024

BASE: Dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {"terminal": False, "args": ["/sbin/init"], "env": ["PATH=/bin"], "cwd": "/"},
    "root": {"path": "rootfs"},
    "hostname": "web1",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts"},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs"},
    ],
    "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")]},
}


def spec(edit: Any = None, **kw: Any) -> pm.CtSpec:
    config = copy.deepcopy(BASE)
    if edit is not None:
        edit(config)
    args: Dict[str, Any] = dict(container_id="lxc-db-1", bundle="/srv/b", network="name=eth0,bridge=vmbr0,ip=dhcp",
                                unprivileged=True, storage="local-lvm", rootfs_size=8)
    args.update(kw)
    return pm.ct_spec(config, "/srv/b/config.json", **args)


def test_system_container_defaults() -> None:
    s = spec()
    assert s.entrypoint is None and s.env == []
    o = s.options
    assert o["hostname"] == "web1"
    assert o["ostype"] == "unmanaged"
    assert o["unprivileged"] == 1
    assert o["rootfs"] == "local-lvm:8"
    assert o["net0"] == "name=eth0,bridge=vmbr0,ip=dhcp"
    assert o["tags"] == "lxcri"
    assert pm.marker_for("lxc-db-1") in o["description"]
    assert "lxcri delete lxc-db-1" in o["description"]
    assert not any(k.startswith("mp") for k in o)  # system mounts are LXC's own
    assert "memory" not in o  # unlimited: PVE's default applies


def test_privileged_and_other_storage() -> None:
    o = spec(unprivileged=False, storage="tank", rootfs_size=20).options
    assert (o["unprivileged"], o["rootfs"]) == (0, "tank:20")


def test_resources_become_mib_cores_cpulimit_cpuunits() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["linux"]["resources"] = {
            "memory": {"limit": 256 * MIB + 1, "swap": 512 * MIB + 1},
            "cpu": {"cpus": "0-2,5", "quota": 150000, "period": 100000, "shares": 1024},
        }
    o = spec(edit).options
    assert o["memory"] == 257          # rounded up: never less than asked
    assert o["swap"] == 256            # OCI swap counts memory too
    assert o["cores"] == 4
    assert o["cpulimit"] == 1.5
    assert o["cpuunits"] == pm.shares_to_cpuunits(1024) == 39


def test_unlimited_resources_are_left_out() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["linux"]["resources"] = {"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1}}
    o = spec(edit).options
    assert not {"memory", "swap", "cpulimit"} & set(o)


def test_shares_conversion_bounds() -> None:
    assert pm.shares_to_cpuunits(2) == 1
    assert pm.shares_to_cpuunits(262144) == 10000
    assert pm.shares_to_cpuunits(1) == 1  # clamped


def test_bind_mounts_become_mp_n() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["mounts"] += [
            {"destination": "/data", "type": "bind", "source": "/srv/data", "options": ["rbind", "rw"]},
            {"destination": "/conf", "source": "/etc/app", "options": ["bind", "ro"]},
        ]
    o = spec(edit).options
    assert o["mp0"] == "/srv/data,mp=/data"
    assert o["mp1"] == "/etc/app,mp=/conf,ro=1"


def test_hostname_derived_from_id_when_absent() -> None:
    def edit(c: Dict[str, Any]) -> None:
        del c["hostname"]
    assert spec(edit, container_id="lxc_db.1").options["hostname"] == "lxc-db-1"
    assert spec(edit, container_id="___").options["hostname"] == "lxcri-ct"


def test_entrypoint_and_env_for_an_application() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["process"]["args"] = ["/usr/bin/redis-server", "--port", "6380"]
        c["process"]["env"] = ["PATH=/usr/bin", "A=b c"]
    s = spec(edit, pve_version=(9, 1, 2))
    assert s.entrypoint == ["/usr/bin/redis-server", "--port", "6380"]
    assert s.env == ["PATH=/usr/bin", "A=b c"]


def test_entrypoint_needs_pve_9_1() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["process"]["args"] = ["/app"]
    with pytest.raises(InvalidBundle, match=r"process\.args: .*Proxmox VE >= 9\.1.*runs 8\.4"):
        spec(edit, pve_version=(8, 4, 1))
    assert spec(edit, pve_version=None).entrypoint == ["/app"]  # unknown: PVE decides


@pytest.mark.parametrize("edit, field", [
    (lambda c: c["process"].update(terminal=True), r"process\.terminal"),
    (lambda c: c.update(hostname="bad_name!"), r"hostname"),
    (lambda c: c["linux"]["namespaces"].pop(1), r"linux\.namespaces: no network namespace"),
    (lambda c: c["linux"]["namespaces"].append({"type": "user", "path": "/proc/1/ns/user"}),
     r"linux\.namespaces\[5\]\.path"),
    (lambda c: c.update(hooks={"prestart": [{"path": "/bin/true"}]}), r"hooks"),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/fuse", "type": "c"}]), r"linux\.devices"),
    (lambda c: c["linux"].update(sysctl={"net.ipv4.ip_forward": "1"}), r"linux\.sysctl"),
    (lambda c: c["mounts"].append({"destination": "/run", "type": "tmpfs", "source": "tmpfs"}),
     r"mounts\[4\]: a tmpfs mount at /run"),
    (lambda c: c["mounts"].append({"destination": "/x", "type": "bind", "source": "/a,b"}),
     r"mounts\[4\]\.source"),
    (lambda c: c["mounts"].append({"destination": "rel", "type": "bind", "source": "/a"}),
     r"mounts\[4\]\.destination: must be an absolute path"),
    (lambda c: c["linux"].update(resources={"memory": {"limit": 8 * MIB}}),
     r"linux\.resources\.memory\.limit: .*16 MiB"),
    (lambda c: c["linux"].update(resources={"memory": {"limit": 64 * MIB, "swap": 32 * MIB}}),
     r"linux\.resources\.memory\.swap"),
    (lambda c: c["linux"].update(resources={"memory": {"swap": 32 * MIB}}),
     r"linux\.resources\.memory\.swap: a swap limit needs memory\.limit"),
    (lambda c: c["linux"].update(resources={"cpu": {"cpus": "3-1"}}), r"linux\.resources\.cpu\.cpus"),
    (lambda c: c["process"].update(args=["/app"], env=["NOEQUALS"]), r"process\.env"),
    (lambda c: c["process"].update(args=["/app", "a\nb"]), r"process\.args\[1\]"),
    # What PVE 9's schema refuses, caught before anything is sent:
    (lambda c: c["process"].update(args=["/app", "\x1b[1m"]),
     r"process\.args\[1\]: holds the control character '\\x1b'"),
    (lambda c: c["process"].update(args=["/app\x7f"]), r"process\.args\[0\]: .*'\\x7f'"),
    (lambda c: c["process"].update(args=["/app"], env=["MY-VAR=1"]),
     r"process\.env\[0\]: 'MY-VAR' is not a variable name"),
    (lambda c: c["process"].update(args=["/app"], env=["=1"]), r"process\.env\[0\]: '' is not"),
    (lambda c: c["process"].update(args=["/app"], env=["A=\x01"]),
     r"process\.env\[0\]: holds the control character '\\x01'"),
    (lambda c: c["linux"].update(resources={"cpu": {"cpus": ","}}),
     r"linux\.resources\.cpu\.cpus: ',' names 0 CPUs; a Proxmox CT has 1 to 8192 cores"),
    (lambda c: c["linux"].update(resources={"cpu": {"cpus": "0-8192"}}),
     r"linux\.resources\.cpu\.cpus: '0-8192' names 8193 CPUs"),
    (lambda c: c["linux"].update(resources={"cpu": {"quota": 10 ** 9, "period": 1000}}),
     r"linux\.resources\.cpu\.quota: .*above Proxmox's cpulimit maximum of 8192"),
])
def test_refuses_what_a_ct_cannot_honour(edit: Any, field: str) -> None:
    with pytest.raises(InvalidBundle, match=r"^/srv/b/config\.json: " + field):
        spec(edit)


def test_update_resources_use_the_same_rules() -> None:
    assert pm.resource_options({"memory": {"limit": 1024 * MIB}}, "resources", "resources") == {"memory": 1024}
    with pytest.raises(InvalidBundle, match=r"resources\.cpu\.shares: must be an integer"):
        pm.resource_options({"cpu": {"shares": "many"}}, "resources", "resources")
    with pytest.raises(InvalidBundle, match=r"^resources: resources\.cpu\.cpus: 'x' is not"):
        pm.resource_options({"cpu": {"cpus": "x"}}, "resources", "resources")


def _app(c: Dict[str, Any]) -> None:
    c["process"]["args"] = ["/bin/app", "--name", "a b", "it's", "tab\there", "ünï"]
    c["process"]["env"] = ["PATH=/bin", "EMPTY=", "EQ=a=b", "_X1=\tv", "CR=a\rb"]


@pytest.mark.parametrize("edit", [
    None,
    _app,
    lambda c: c["linux"].update(resources={
        "memory": {"limit": 16 * MIB, "swap": 16 * MIB},
        "cpu": {"cpus": "0-8191", "quota": 1, "period": 10 ** 6, "shares": 262144}}),
    lambda c: c["linux"].update(resources={"cpu": {"quota": 8192 * 100000, "shares": 2}}),
    lambda c: c["mounts"].extend(
        {"destination": f"/m{i}", "type": "bind", "source": f"/srv/{i}", "options": ["ro"]}
        for i in range(pm.PVE_MAX_MOUNT_POINTS - 1)),
    lambda c: c.update(hostname="a" * 63 + "." + "b" * 63),
])
def test_what_the_mapping_makes_pve_9_accepts(edit: Any) -> None:
    s = spec(edit, pve_version=(9, 1, 2), container_id="x" * 1024, bundle="/" + "b" * 4095)
    # As the API transport sends them: form values, plus the template and the init.
    params = {k: str(v) for k, v in s.options.items()}
    params.update(vmid="100", ostemplate="local:vztmpl/lxcri-0a1b2c3d4e5f.tar.gz")
    if s.entrypoint is not None:
        params["entrypoint"] = shlex.join(s.entrypoint)
        if s.env:
            params["env"] = "\0".join(s.env)
    schema = pve_schema.load()
    assert schema.check_params("/nodes/{node}/lxc", "POST", params, {"node": "pve1"}) == {}
    resources = {k: params[k] for k in ("memory", "swap", "cores", "cpulimit", "cpuunits")
                 if k in params}
    assert schema.check_params("/nodes/{node}/lxc/{vmid}/config", "PUT", resources,
                               {"node": "pve1", "vmid": "100"}) == {}
