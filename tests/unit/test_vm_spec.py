"""The vm backend's pure parts: config.json -> the VM (spec.plan), vCPUs, mount flags, KVM or TCG."""
from __future__ import annotations

import copy
from typing import Any, Dict

import pytest

from lxcri.backends.vm import guest, spec
from lxcri.errors import InvalidBundle
from lxcri.host import kvm

MIB = 1 << 20
BASE: Dict[str, Any] = {
    "ociVersion": "1.0.2",
    "process": {"args": ["sh", "-c", "true"], "env": ["PATH=/bin"], "cwd": "/work",
                "user": {"uid": 5, "gid": 6, "additionalGids": [7]}},
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "h1",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup"},
        {"destination": "/data", "type": "bind", "source": "/srv/data",
         "options": ["rbind", "ro"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/srv/files/hosts",
         "options": ["bind"]},
    ],
    "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}],
              "resources": {"memory": {"limit": 512 * MIB}, "cpu": {"quota": 150000}}},
}
DIRS = {"/b/rootfs", "/srv/data", "/srv/files"}


def plan(edit: Any = None) -> Dict[str, Any]:
    config = copy.deepcopy(BASE)
    if edit is not None:
        edit(config)
    return spec.plan("vmt-1", config, bundle="/b", config_path="/b/config.json", host_cpus=4,
                     is_dir=lambda p: p in DIRS,
                     exists=lambda p: p in DIRS or p == "/srv/files/hosts")


def test_a_config_becomes_shares_mounts_and_a_sized_vm() -> None:
    p = plan()
    assert (p["rootfs"], p["readonly"], p["hostname"]) == ("/b/rootfs", True, "h1")
    assert p["process"] == {"args": ["sh", "-c", "true"], "env": ["PATH=/bin"], "cwd": "/work",
                            "uid": 5, "gid": 6, "groups": [7], "terminal": False}
    assert [(s["tag"], s["path"], s["readonly"]) for s in p["shares"]] == [
        ("root", "/b/rootfs", True), ("s1", "/srv/data", True), ("s2", "/srv/files", False)]
    targets = [(m[0], m[2]) for m in p["mounts"]]
    assert targets == [("9p", "/root"), ("proc", "/root/proc"), ("tmpfs", "/root/dev"),
                       ("9p", "/.lxcri/shares/s1"), ("bind", "/root/data"),
                       ("9p", "/.lxcri/shares/s2"), ("bind", "/root/etc/hosts"),
                       ("devnodes", "/root/dev")]
    assert p["mounts"][6][1] == "/.lxcri/shares/s2/hosts"  # a file: its directory is shared
    assert int(p["mounts"][4][3]) & spec.MS_RDONLY
    assert p["mounts"][2][4] == "mode=755"
    assert (p["memory_mib"], p["memory_limit"], p["vcpus"]) == (512, 512 * MIB, 2)
    assert p["network"] == "none"  # a network namespace: loopback only


def test_no_network_namespace_means_the_user_mode_network() -> None:
    def edit(c: Dict[str, Any]) -> None:
        c["linux"]["namespaces"] = [{"type": "pid"}]

    p = plan(edit)
    assert p["network"] == "user"
    argv = " ".join(guest.qemu_argv("/q", "/g", p, accel_name="tcg", slot_fds=[5], qmp_fd=4,
                                    console="/c", name="n"))
    assert "-netdev user,id=net0" in argv and "lxcri.net=user" in argv


def test_without_limits_the_defaults_apply() -> None:
    def edit(c: Dict[str, Any]) -> None:
        del c["linux"]["resources"]

    p = plan(edit)
    assert (p["memory_mib"], p["memory_limit"], p["vcpus"]) == (spec.DEFAULT_MEMORY_MIB, None, 1)


@pytest.mark.parametrize("edit, words", [
    (lambda c: c["linux"]["namespaces"].append({"type": "ipc", "path": "/proc/1/ns/ipc"}),
     "the ipc namespace joins /proc/1/ns/ipc: a VM cannot join a host namespace"),
    (lambda c: c["linux"].update(devices=[{"path": "/dev/sda"}]), "linux.devices asks for /dev/sda"),
    (lambda c: c["process"].update(terminal=True),
     "process.terminal is true but no --console-socket was given"),
    (lambda c: c["linux"].update(uidMappings=[{"containerID": 0}]), "maps no user ids"),
    (lambda c: c.update(hooks={"poststart": [{"path": "/x"}]}), "hooks (poststart)"),
    (lambda c: c["mounts"].append({"destination": "/m", "type": "overlay"}),
     "mount type 'overlay' at /m"),
    (lambda c: c["mounts"].append({"destination": "/m", "type": "bind", "source": "/nope"}),
     "bind mount source '/nope' (for /m) does not exist"),
    (lambda c: c["linux"]["resources"]["memory"].update(limit=64 * MIB), "below the 128 MiB"),
    (lambda c: c["process"].update(args=[]), "process.args must be a non-empty array"),
])
def test_what_a_vm_cannot_honour_is_refused_in_one_line(edit: Any, words: str) -> None:
    with pytest.raises(InvalidBundle) as info:
        plan(edit)
    assert info.value.message.startswith("container `vmt-1`: /b/config.json: ")
    assert words in info.value.message and "\n" not in info.value.message


@pytest.mark.parametrize("cpu, host, expected", [
    ({}, 8, 1), ({"quota": 50000, "period": 100000}, 8, 1), ({"quota": 250000}, 8, 3),
    ({"cpus": "0-3,6"}, 8, 5), ({"cpus": "0-3", "quota": 200000}, 8, 2), ({"cpus": "0-15"}, 4, 4),
])
def test_vcpus_from_quota_and_cpuset(cpu: Dict[str, Any], host: int, expected: int) -> None:
    assert spec.vcpus({"cpu": cpu}, host) == expected


def test_mount_flags() -> None:
    flags, data = spec.mount_flags(["nosuid", "ro", "rw", "mode=755", "rprivate", "size=1k"])
    assert flags == spec.MS_NOSUID and data == ["mode=755", "size=1k"]


@pytest.mark.parametrize("flags, api, accel, words", [
    ("fpu vmx sse", 12, "kvm", "vmx and /dev/kvm works"),
    ("fpu svm", None, "tcg", "/dev/kvm is missing or unusable"),
    ("fpu sse", 12, "tcg", "nested mode"),
    ("fpu sse", None, "tcg", "no /dev/kvm"),
])
def test_kvm_only_with_vmx_or_svm_and_a_working_dev_kvm(flags: str, api: Any, accel: str,
                                                        words: str) -> None:
    cpuinfo = f"processor\t: 0\nflags\t\t: {flags}\n"
    got, why = kvm.choose(cpuinfo, api)
    assert got == accel and words in why


def test_qemu_argv_has_a_port_per_slot_and_a_share_per_entry() -> None:
    p = plan()
    argv = guest.qemu_argv("/q", "/g", p, accel_name="tcg", slot_fds=[5, 6, 7], qmp_fd=4,
                           console="/s/console.log", name="lxcri-vm-vmt-1")
    text = " ".join(argv)
    assert "-machine microvm" in text and "-accel tcg," in text and guest.TCG_CMDLINE in text
    assert "lxcri.slots=3" in text and "max_ports=4" in text
    assert text.count("virtserialport") == 3 and text.count("virtio-9p-device") == 3
    assert "path=/b/rootfs,security_model=passthrough,readonly=on" in text
    kvm_argv = guest.qemu_argv("/q", "/g", p, accel_name="kvm", slot_fds=[5], qmp_fd=4,
                               console="/c", name="n")
    assert "-cpu host" in " ".join(kvm_argv) and guest.TCG_CMDLINE not in " ".join(kvm_argv)
