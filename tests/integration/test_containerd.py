"""containerd's runc v2 shim driving the runtime under test, through `ctr`.

A private containerd (tests/engines_support.py: own root, state, socket, namespace)
runs `ctr run --runc-binary <runtime>`; the image is a hand-built OCI archive of the
busybox rootfs imported with `ctr images import`.
LXCRI_ENGINE_TEST_RUNTIME=/usr/bin/crun runs the same tests against crun.
"""
from __future__ import annotations

import json
import shlex
import time

import pytest

# The *_fixture, *_session and rootfs_tar names are fixtures, found here by pytest.
from engines_support import (  # noqa: F401
    TRAP_TERM,
    Containerd,
    containerd_fixture,
    containerd_session,
    require,
    rootfs_tar,
    run,
    runtime_calls,
)
from support import new_id

pytestmark = [pytest.mark.integration, pytest.mark.core]




def wait_task(cd: Containerd, id: str, want: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while (status := cd.task_status(id)) != want:
        assert time.monotonic() < deadline, f"task {id} is {status!r}, not {want}"
        time.sleep(0.1)


def test_run_rm_output_and_exit_code(containerd: Containerd) -> None:
    id = new_id("run")
    proc = containerd(*containerd.run_args("--rm", containerd.image, id, "sh", "-c",
                                           "echo hello from pid $$; exit 7"))
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "hello from pid 1\n"
    assert containerd("containers", "ls", "--quiet", check=True).stdout == ""
    create = runtime_calls(containerd, "create")
    assert create and "--log-format json" in create[-1] and "--bundle" in create[-1]
    ok = containerd(*containerd.run_args("--rm", containerd.image, new_id("true"), "true"))
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")


def test_detached_exec_ps_pause_resume_kill_delete(containerd: Containerd) -> None:
    id = new_id("detached")
    containerd(*containerd.run_args("--detach", "--null-io", containerd.image, id,
                                    "sh", "-c", TRAP_TERM), check=True)
    wait_task(containerd, id, "RUNNING")

    proc = containerd(*containerd.exec_args("--exec-id", "e1", id, "sh", "-c",
                                            "echo exec says hi; exit 4"))
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout == "exec says hi\n"
    exec_calls = runtime_calls(containerd, "exec")
    assert exec_calls and "--process" in exec_calls[-1]

    # tasks ps asks the runtime: `ps --format json ID`.
    init_pid = next(line.split()[1] for line in
                    containerd("tasks", "ls", check=True).stdout.splitlines()[1:]
                    if line.split()[0] == id)
    ps = containerd("tasks", "ps", id)
    assert ps.returncode == 0, ps.stderr
    pids = [line.split()[0] for line in ps.stdout.splitlines()[1:]]
    assert init_pid in pids and len(pids) >= 2, ps.stdout  # sh and its sleep
    assert any("--format json" in c for c in runtime_calls(containerd, "ps"))

    containerd("tasks", "pause", id, check=True)
    wait_task(containerd, id, "PAUSED")
    containerd("tasks", "resume", id, check=True)
    wait_task(containerd, id, "RUNNING")
    assert runtime_calls(containerd, "pause") and runtime_calls(containerd, "resume")
    again = containerd(*containerd.exec_args("--exec-id", "e2", id, "echo", "alive"))
    assert (again.returncode, again.stdout) == (0, "alive\n"), again.stderr

    containerd("tasks", "kill", id, check=True)  # SIGTERM: the trap exits 3
    wait_task(containerd, id, "STOPPED")
    deleted = containerd("tasks", "delete", id)
    assert deleted.returncode == 0, deleted.stderr
    # ctr reports a non-zero exit status as a warning.
    assert "exit code 3" in deleted.stderr, deleted.stderr
    containerd("containers", "delete", id, check=True)
    assert containerd("containers", "ls", "--quiet", check=True).stdout == ""
    assert runtime_calls(containerd, "kill") and runtime_calls(containerd, "delete")


def test_kill_sigkill_and_force_delete(containerd: Containerd) -> None:
    id = new_id("sigkill")
    containerd(*containerd.run_args("--detach", "--null-io", containerd.image, id,
                                    "sleep", "1000"), check=True)
    wait_task(containerd, id, "RUNNING")
    containerd("tasks", "kill", "--signal", "SIGKILL", id, check=True)
    wait_task(containerd, id, "STOPPED")
    containerd("tasks", "delete", id, check=True)
    # A running task deleted with --force.
    id2 = new_id("force")
    containerd(*containerd.run_args("--detach", "--null-io", containerd.image, id2,
                                    "sleep", "1000"), check=True)
    wait_task(containerd, id2, "RUNNING")
    containerd("tasks", "delete", "--force", id2, check=True)
    assert containerd("tasks", "ls", "--quiet", check=True).stdout == ""
    for c in (id, id2):
        containerd("containers", "delete", c, check=True)
    assert any(k.endswith(" 9") for k in runtime_calls(containerd, "kill"))


def test_tty(containerd: Containerd) -> None:
    require("script", packages="bsdutils")
    argv = ["ctr", "--address", containerd.address, "--namespace", containerd.namespace,
            *containerd.run_args("--rm", "--tty", containerd.image, new_id("tty"),
                                 "sh", "-c", "tty; test -t 0 && echo stdin-tty; exit 5")]
    proc = run(["script", "--quiet", "--return", "--command", shlex.join(argv), "/dev/null"])
    assert proc.returncode == 5, proc.stdout + proc.stderr
    # ctr's console relay adds stray bytes (an echoed NUL, a blank line): look for the lines.
    lines = [ln.strip("\x00^@ ") for ln in proc.stdout.replace("\r\n", "\n").splitlines()]
    assert "/dev/pts/0" in lines and "stdin-tty" in lines, proc.stdout
    assert "--console-socket" in runtime_calls(containerd, "create")[-1]


def test_missing_executable(containerd: Containerd) -> None:
    proc = containerd(*containerd.run_args("--rm", containerd.image, new_id("missing"),
                                           "/no/such/lxcri-test-cmd"))
    assert proc.returncode != 0
    # The shim reads the runtime's --log JSON and returns its message to ctr.
    assert "/no/such/lxcri-test-cmd" in proc.stderr, proc.stderr
    assert containerd("tasks", "ls", "--quiet", check=True).stdout == ""


def test_runtime_state_matches(containerd: Containerd) -> None:
    """The runtime's own `state` (in the shim's root) agrees with containerd."""
    id = new_id("state")
    containerd(*containerd.run_args("--detach", "--null-io", containerd.image, id,
                                    "sleep", "1000"), check=True)
    wait_task(containerd, id, "RUNNING")
    root = containerd.runc_root / containerd.namespace
    state = json.loads(run([containerd.runtime, "--root", str(root), "state", id],
                           check=True).stdout)
    assert state["id"] == id and state["status"] == "running"
    assert str(state["pid"]) in containerd("tasks", "ls", check=True).stdout


def test_runtime_annotation_routes_to_runc(containerd: Containerd) -> None:
    """`ctr run --annotation lxcri.runtime=runc`: the shim drives lxcri as usual, lxcri hands
    the container to runc (state under the shim root's .lxcri/runc), and every later call
    of the shim (exec, kill, delete) follows the ownership record."""
    if containerd.runtime.rsplit("/", 1)[-1] != "lxcri":
        pytest.skip("the lxcri.runtime annotation is lxcri's; the runtime under test is not lxcri")
    require("runc", packages="runc")
    id = new_id("runc")
    containerd(*containerd.run_args("--detach", "--null-io", "--annotation", "lxcri.runtime=runc",
                                    containerd.image, id, "sh", "-c", TRAP_TERM), check=True)
    wait_task(containerd, id, "RUNNING")
    root = containerd.runc_root / containerd.namespace
    listed = json.loads(run([containerd.runtime, "--root", str(root), "list", "--format", "json"],
                            check=True).stdout)
    assert [(e["id"], e["runtime"]) for e in listed] == [(id, "runc")]
    proc = containerd(*containerd.exec_args("--exec-id", "e1", id, "sh", "-c", "echo hi; exit 4"))
    assert (proc.returncode, proc.stdout) == (4, "hi\n"), proc.stderr
    containerd("tasks", "kill", id, check=True)
    wait_task(containerd, id, "STOPPED")
    deleted = containerd("tasks", "delete", id)
    assert deleted.returncode == 0 and "exit code 3" in deleted.stderr, deleted.stderr
    containerd("containers", "delete", id, check=True)
    assert run([containerd.runtime, "--root", str(root), "list", "-q"], check=True).stdout == ""
