"""podman + conmon running containers on the vm backend through an lxcri.toml routing rule.

The private podman of tests/engines_support.py, with a [[routing]] rule sending names
matching `vmt-*` (podman passes the name as the lxcri.name annotation) to `vm`: the
container runs in a QEMU microvm, and podman prints its output and exits with its code.
Afterwards no QEMU of it is left. Real QEMU (TCG here): generous timeouts.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import uuid
from typing import Dict

import pytest

# The *_fixture, *_session and rootfs_tar names are fixtures, found here by pytest.
from engines_support import (  # noqa: F401
    Podman,
    podman_fixture,
    podman_session,
    require,
    rootfs_tar,
    run,
)
from test_vm import _vm_available, qemu_of

pytestmark = [pytest.mark.integration, pytest.mark.core, pytest.mark.host_only]


def runtimes(pm: Podman) -> Dict[str, str]:
    listed = json.loads(run([pm.runtime, "--root", str(pm.runtime_root), "list", "--format",
                             "json"], check=True).stdout)
    return {entry["id"]: entry["runtime"] for entry in listed}


def test_podman_run_rm_through_a_routing_rule_to_vm(podman: Podman) -> None:
    if os.path.basename(podman.runtime) != "lxcri":
        pytest.skip("routing rules are lxcri's; the runtime under test is not lxcri")
    _vm_available()
    podman.lxcri_toml.write_text('[[routing]]\npattern = "vmt-*"\nruntime = "vm"\n')
    name = f"vmt-pod-{uuid.uuid4().hex[:8]}"
    try:
        proc = podman(*podman.run_args("--rm", "--name", name, "--annotation",
                                       f"lxcri.name={name}", "--hostname", "vmt-pod",
                                       podman.image, "sh", "-c",
                                       "echo hello from $(hostname) on $(uname -r); "
                                       "echo to-stderr >&2; exit 7"), timeout=240)
        assert proc.returncode == 7, proc.stderr
        assert proc.stdout == f"hello from vmt-pod on {guest_release()}\n"
        assert "to-stderr" in proc.stderr
        assert podman("ps", "--all", "--quiet", check=True).stdout == ""
        assert not runtimes(podman)
        # A detached one: exec, stop and rm go to the vm backend by ownership.
        name = f"vmt-pod-{uuid.uuid4().hex[:8]}"
        podman(*podman.run_args("-d", "--name", name, "--annotation", f"lxcri.name={name}",
                                podman.image, "sleep", "600"), check=True, timeout=240)
        cid = podman("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        assert runtimes(podman)[cid] == "vm"
        out = podman("exec", name, "sh", "-c", "echo in-vm; exit 3", timeout=120)
        assert (out.returncode, out.stdout) == (3, "in-vm\n"), out.stderr
        podman("stop", "--time", "2", name, check=True, timeout=120)
        podman("rm", name, check=True, timeout=120)
        assert not qemu_of(cid) and not runtimes(podman)
    finally:
        podman.lxcri_toml.write_text("")
    for pid_owner in list(runtimes(podman)):
        assert not qemu_of(pid_owner)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_vm_qemu(p, podman)]
    # The VM's memory cgroup is the one podman named (cgroupsPath), under its parent.
    parent = f"/sys/fs/cgroup/memory/{podman.cgroup_parent}"
    assert not [d for d in (os.listdir(parent) if os.path.isdir(parent) else []) if cid in d]


def in_pty(pm: Podman, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """podman under script(1), so that its stdin/stdout is a terminal (as in test_podman)."""
    require("script", packages="bsdutils")
    return run(["script", "--quiet", "--return", "--command", shlex.join(pm.argv(*args)),
                "/dev/null"], env=pm.env, timeout=timeout)


def test_podman_run_and_exec_with_a_terminal_in_a_vm(podman: Podman) -> None:
    """`podman run -t` and `podman exec -t`: the process has a tty in the guest."""
    if os.path.basename(podman.runtime) != "lxcri":
        pytest.skip("routing rules are lxcri's; the runtime under test is not lxcri")
    _vm_available()
    podman.lxcri_toml.write_text('[[routing]]\npattern = "vmt-*"\nruntime = "vm"\n')
    try:
        name = f"vmt-tty-{uuid.uuid4().hex[:8]}"
        proc = in_pty(podman, *podman.run_args("--rm", "-t", "--name", name, "--annotation",
                                               f"lxcri.name={name}", podman.image, "sh", "-c",
                                               "tty; test -t 0 && echo stdin-is-a-tty; exit 5"))
        assert proc.returncode == 5, proc.stdout + proc.stderr
        lines = proc.stdout.replace("\r", "").splitlines()
        assert lines[0].startswith("/dev/pts/") and "stdin-is-a-tty" in lines, proc.stdout
        name = f"vmt-tty-{uuid.uuid4().hex[:8]}"
        podman(*podman.run_args("-d", "--name", name, "--annotation", f"lxcri.name={name}",
                                podman.image, "sleep", "600"), check=True, timeout=240)
        proc = in_pty(podman, "exec", "-t", name, "sh", "-c", "tty; exit 4", timeout=120)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert proc.stdout.replace("\r", "").startswith("/dev/pts/"), proc.stdout
        podman("rm", "--force", "--time", "0", name, check=True, timeout=120)
    finally:
        podman.lxcri_toml.write_text("")
    assert not runtimes(podman)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_vm_qemu(p, podman)]


def _is_vm_qemu(pid: str, pm: Podman) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return any(a.startswith(b"lxcri-vm-") for a in argv) and any(
        str(pm.runtime_root).encode() in a for a in argv)


def guest_release() -> str:
    from lxcri.backends.vm import guest

    where, release = guest.find_guest({})
    assert where is not None, release
    return release
