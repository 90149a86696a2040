"""The OCI -> LXC config mapping of the lxc backend (pure: no root, no LXC)."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

from lxcri.backends.lxc.liblxc.mapping import lxc_config, render
from lxcri.errors import InvalidBundle
from lxcri.host.cgroups import hierarchies as cgroup_layout

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def base_spec(rootfs: Path) -> Dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "box",
        "process": {"args": ["sh"], "cwd": "/", "env": ["PATH=/bin"],
                    "user": {"uid": 0, "gid": 0}},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                   {"destination": "/dev", "type": "tmpfs", "source": "tmpfs"}],
        "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts",
                                                       "mount")]},
    }


Layout = Dict[str, int]


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    for sub in ("proc", "dev", "data"):
        (root / sub).mkdir(parents=True)
    return root


@pytest.fixture
def mapped(rootfs: Path) -> Callable[..., Tuple[List[Tuple[str, str]], List[str]]]:
    def run(edit: Callable[[Dict[str, Any]], None] = lambda s: None,
            layout: Layout | None = None) -> Tuple[List[Tuple[str, str]], List[str]]:
        spec = base_spec(rootfs)
        edit(spec)
        return lxc_config(spec, rootfs=str(rootfs), state_dir="/run/x/c1",
                          layout=layout if layout is not None else cgroup_layout(HYBRID),
                          is_dir=lambda p: True if p.startswith("/srv") else None)
    return run


def values(items: List[Tuple[str, str]], key: str) -> List[str]:
    return [v for k, v in items if k == key]


# --- cgroup layout -------------------------------------------------------------------------

def test_layout_of_a_hybrid_host_puts_v1_controllers_on_v1() -> None:
    layout = cgroup_layout(HYBRID, v2_controllers="pids hugetlb")
    assert layout["memory"] == 1 and layout["cpu"] == 1 and layout["freezer"] == 1
    assert layout["pids"] == 2 and layout["hugetlb"] == 2
    assert "name=systemd" not in layout and "systemd" not in layout


def test_layout_of_a_pure_v2_host() -> None:
    layout = cgroup_layout(PURE_V2, v2_controllers="cpuset cpu io memory pids")
    assert {layout[c] for c in ("cpu", "memory", "pids", "devices", "freezer")} == {2}


def test_memory_cpu_pids_keys_follow_each_controllers_hierarchy(mapped: Any) -> None:
    def limits(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"memory": {"limit": 1 << 26},
                                      "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                                      "pids": {"limit": 64}}

    hybrid, _ = mapped(limits, cgroup_layout(HYBRID, v2_controllers="pids"))
    assert values(hybrid, "lxc.cgroup.memory.limit_in_bytes") == [str(1 << 26)]
    assert values(hybrid, "lxc.cgroup.cpu.shares") == ["512"]
    assert values(hybrid, "lxc.cgroup.cpu.cfs_quota_us") == ["50000"]
    assert values(hybrid, "lxc.cgroup.cpu.cfs_period_us") == ["100000"]
    assert values(hybrid, "lxc.cgroup2.pids.max") == ["64"]  # pids on v2 there
    assert not any(k.startswith("lxc.cgroup2.memory") for k, _ in hybrid)

    v2, _ = mapped(limits, cgroup_layout(PURE_V2, v2_controllers="cpu memory pids"))
    assert values(v2, "lxc.cgroup2.memory.max") == [str(1 << 26)]
    assert values(v2, "lxc.cgroup2.cpu.max") == ["50000 100000"]
    assert values(v2, "lxc.cgroup2.cpu.weight") == [str(1 + (510 * 9999) // 262142)]
    assert values(v2, "lxc.cgroup2.pids.max") == ["64"]
    assert not any(k.startswith("lxc.cgroup.") for k, _ in v2)


def test_device_rules_add_the_default_devices(mapped: Any) -> None:
    def devices(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"devices": [{"allow": False, "access": "rwm"},
                                                  {"allow": True, "type": "c", "major": 10,
                                                   "minor": 200, "access": "rw"}]}

    items, _ = mapped(devices)
    assert values(items, "lxc.cgroup.devices.deny") == ["a"]
    allowed = values(items, "lxc.cgroup.devices.allow")
    assert allowed[0] == "c 10:200 rw" and "c 1:3 rwm" in allowed


# --- the rest of the mapping ---------------------------------------------------------------

def test_basic_mapping(mapped: Any, rootfs: Path) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        spec["process"].update({"cwd": "/data", "noNewPrivileges": True,
                                "user": {"uid": 1000, "gid": 100, "additionalGids": [5, 6]},
                                "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                             "hard": 4096}]})

    items, mask = mapped(edit)
    assert values(items, "lxc.rootfs.path") == [f"dir:{rootfs}"]
    assert values(items, "lxc.rootfs.managed") == ["0"]  # LXC never owns the bundle's rootfs
    assert values(items, "lxc.rootfs.options") == ["ro"]
    assert values(items, "lxc.uts.name") == ["box"]
    assert values(items, "lxc.environment") == ["PATH=/bin"]
    assert values(items, "lxc.init.cwd") == ["/data"]
    assert values(items, "lxc.init.uid") == ["1000"] and values(items, "lxc.init.gid") == ["100"]
    assert values(items, "lxc.init.groups") == ["5,6"]
    assert values(items, "lxc.prlimit.nofile") == ["1024:4096"]
    assert values(items, "lxc.no_new_privs") == ["1"]
    assert values(items, "lxc.autodev") == ["1"]
    assert values(items, "lxc.net.0.type") == ["empty"]  # a network namespace, no path
    assert values(items, "lxc.namespace.clone") == ["mnt pid net ipc uts"]
    entries = values(items, "lxc.mount.entry")
    assert entries == ["proc proc proc defaults 0 0"]  # /dev is LXC's autodev tmpfs
    assert mask == []


def test_bind_mount_entry_and_escapes(mapped: Any) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        spec["root"]["readonly"] = False
        spec["mounts"].append({"destination": "/srv data", "type": "bind",
                               "source": "/srv/host dir", "options": ["rbind", "ro"]})

    items, _ = mapped(edit)
    assert values(items, "lxc.mount.entry")[-1] == \
        "/srv/host\\040dir srv\\040data none rbind,ro,create=dir 0 0"
    assert "lxc.rootfs.options" not in dict(items)


def test_no_network_namespace_means_the_hosts_network(mapped: Any) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"},
                                       {"type": "network", "path": "/proc/1/ns/net"}]

    items, _ = mapped(edit)
    assert values(items, "lxc.namespace.share.net") == ["/proc/1/ns/net"]
    assert values(items, "lxc.namespace.clone") == ["mnt uts"]

    def host(spec: Dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [{"type": "mount"}, {"type": "uts"}]

    items, _ = mapped(host)
    assert values(items, "lxc.net.0.type") == ["none"]


def test_capabilities_and_masks(mapped: Any) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        caps = ["CAP_KILL", "CAP_CHOWN"]
        spec["process"]["capabilities"] = {"bounding": caps, "effective": caps,
                                           "permitted": caps, "ambient": ["CAP_KILL"]}
        spec["linux"]["maskedPaths"] = ["/proc/kcore", "/sys/firmware"]
        spec["linux"]["readonlyPaths"] = ["/proc/sys"]

    items, mask = mapped(edit)
    assert values(items, "lxc.cap.keep") == ["chown kill"]
    assert mask == ["lxcri_mask '/proc/kcore'", "lxcri_mask '/sys/firmware'",
                    "lxcri_ro '/proc/sys'"]


def test_user_namespace_maps_ids(mapped: Any) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]

    items, _ = mapped(edit)
    assert values(items, "lxc.idmap") == ["u 0 100000 65536", "g 0 100000 65536"]
    assert "user" in values(items, "lxc.namespace.clone")[0].split()


def test_render_is_one_line_per_item() -> None:
    assert render([("a", "1"), ("b", "x y")]) == "a = 1\nb = x y\n"


# --- every rejection names its config.json field -------------------------------------------

def _set(path: str, value: Any) -> Callable[[Dict[str, Any]], None]:
    def edit(spec: Dict[str, Any]) -> None:
        node = spec
        keys = path.split(".")
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    return edit


def _ns(*types: str) -> Callable[[Dict[str, Any]], None]:
    return _set("linux.namespaces", [{"type": t} for t in types])


REJECTIONS = [
    ("process.terminal", _set("process.terminal", True)),
    ("process.args", _set("process.args", [])),
    ("process.env[1]", _set("process.env", ["PATH=/bin", "NOEQUALS"])),
    ("process.env[0]", _set("process.env", ["A=line\nbreak"])),
    ("process.cwd", _set("process.cwd", "relative")),
    ("process.user.uid", _set("process.user", {"uid": "0", "gid": 0})),
    ("process.user.umask", _set("process.user", {"uid": 0, "gid": 0, "umask": 0o77})),
    ("process.capabilities.bounding[0]", _set("process.capabilities", {"bounding": ["CAP_NOPE"]})),
    ("process.capabilities.effective", _set("process.capabilities",
                                            {"bounding": ["CAP_KILL", "CAP_CHOWN"],
                                             "effective": ["CAP_KILL"]})),
    ("process.capabilities.inheritable", _set("process.capabilities",
                                              {"bounding": ["CAP_KILL"],
                                               "inheritable": ["CAP_KILL"]})),
    ("process.capabilities.effective", lambda s: (
        s["process"].update(user={"uid": 1000, "gid": 1000},
                            capabilities={"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]}))),
    ("process.rlimits[0].type", _set("process.rlimits", [{"type": "RLIMIT_BOGUS", "soft": 1,
                                                          "hard": 1}])),
    ("process.ioPriority", _set("process.ioPriority", {"class": "IOPRIO_CLASS_RT"})),
    ("hooks", _set("hooks", {"prestart": [{"path": "/bin/true"}]})),
    ("hostname", lambda s: s["linux"].update(namespaces=[{"type": "mount"}])),
    ("domainname", _set("domainname", "example")),
    ("linux.namespaces", _ns("pid", "uts")),
    ("linux.namespaces[1].type", _ns("mount", "bogus")),
    ("linux.namespaces[2]", _ns("mount", "uts", "uts")),
    ("linux.namespaces[1].path", lambda s: s["linux"].update(
        namespaces=[{"type": "uts"}, {"type": "mount", "path": "/proc/1/ns/mnt"}])),
    ("linux.uidMappings", lambda s: s["linux"]["namespaces"].append({"type": "user"})),
    ("linux.uidMappings", _set("linux.uidMappings", [{"containerID": 0, "hostID": 1,
                                                      "size": 1}])),
    ("mounts[2].type", lambda s: s["mounts"].append({"destination": "/x", "type": "nfs",
                                                     "source": "h:/x"})),
    ("mounts[2].destination", lambda s: s["mounts"].append({"destination": "rel",
                                                            "type": "tmpfs"})),
    ("mounts[2].destination", lambda s: s["mounts"].append({"destination": "/missing",
                                                            "type": "tmpfs"})),
    ("mounts[2].source", lambda s: s["mounts"].append({"destination": "/data", "type": "bind",
                                                       "source": "/nonexistent"})),
    ("mounts[2].source", lambda s: s["mounts"].append({"destination": "/data", "type": "bind",
                                                       "source": "relative"})),
    ("mounts[2].options[0]", lambda s: s["mounts"].append({"destination": "/data",
                                                           "type": "tmpfs",
                                                           "options": ["a,b"]})),
    ("mounts[2].destination", lambda s: s["mounts"].append({"destination": "/cg",
                                                            "type": "cgroup"})),
    ("linux.resources.blockIO", _set("linux.resources", {"blockIO": {"weight": 10}})),
    ("linux.resources.memory.kernel", _set("linux.resources", {"memory": {"kernel": 1}})),
    ("linux.resources.memory.limit", _set("linux.resources", {"memory": {"limit": "1G"}})),
    ("linux.resources.cpu.bogus", _set("linux.resources", {"cpu": {"bogus": 1}})),
    ("linux.resources.pids.other", _set("linux.resources", {"pids": {"other": 1}})),
    ("linux.resources.devices[0].type", _set("linux.resources",
                                             {"devices": [{"allow": True, "type": "x"}]})),
    ("linux.seccomp", _set("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW"})),
    ("linux.devices", _set("linux.devices", [{"path": "/dev/fuse", "type": "c"}])),
    ("linux.maskedPaths[0]", _set("linux.maskedPaths", ["/etc/shadow"])),
    ("linux.readonlyPaths[0]", _set("linux.readonlyPaths", ["/proc/../etc"])),
    ("linux.rootfsPropagation", _set("linux.rootfsPropagation", "sideways")),
    ("linux.cgroupsPath", _set("linux.cgroupsPath", "system.slice:lxcri:c1")),
]


@pytest.mark.parametrize("field,edit", REJECTIONS, ids=[f for f, _ in REJECTIONS])
def test_rejections_name_the_field(mapped: Any, field: str,
                                   edit: Callable[[Dict[str, Any]], None]) -> None:
    with pytest.raises(InvalidBundle) as info:
        mapped(edit)
    assert info.value.message.startswith(f"config.json: {field}: ")


def test_resource_on_a_hierarchy_without_that_setting_is_rejected(mapped: Any) -> None:
    v2 = cgroup_layout(PURE_V2, v2_controllers="cpu memory pids")
    with pytest.raises(InvalidBundle, match="linux.resources.memory.swappiness: .*cgroup v2"):
        mapped(_set("linux.resources", {"memory": {"swappiness": 10}}), v2)
    with pytest.raises(InvalidBundle, match="linux.resources.cpu.cpus: .*cpuset.*not available"):
        mapped(_set("linux.resources", {"cpu": {"cpus": "0"}}), v2)


def test_the_spec_is_not_modified(mapped: Any, rootfs: Path) -> None:
    spec = base_spec(rootfs)
    spec["linux"]["resources"] = {"memory": {"limit": 1 << 20}}
    before = copy.deepcopy(spec)
    lxc_config(spec, rootfs=str(rootfs), state_dir="/x", layout=cgroup_layout(HYBRID))
    assert json.dumps(spec, sort_keys=True) == json.dumps(before, sort_keys=True)
