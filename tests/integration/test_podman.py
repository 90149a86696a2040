"""podman + conmon driving the runtime under test, as a user would run them.

The private podman (tests/engines_support.py) registers the runtime under the name
`lxcri`, listed in runtime_supports_json, exactly as contrib/containers.conf does;
its image is a busybox rootfs imported with `podman import`.
LXCRI_ENGINE_TEST_RUNTIME=/usr/bin/crun runs the same tests against crun.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path
from typing import Dict

import pytest

# The *_fixture, *_session and rootfs_tar names are fixtures, found here by pytest.
from engines_support import (  # noqa: F401
    TRAP_TERM,
    Podman,
    podman_fixture,
    podman_session,
    require,
    rootfs_tar,
    run,
    runtime_calls,
)
from support import new_id

pytestmark = [pytest.mark.integration, pytest.mark.core]




def wait_exited(pm: Podman, name: str, timeout: float = 15) -> str:
    """The exit code once the container has exited ("stopped": exited, not cleaned up yet)."""
    deadline = time.monotonic() + timeout
    while True:
        status, code = pm.status(name).split()
        if status in ("exited", "stopped"):
            return code
        assert time.monotonic() < deadline, f"{name} still {status} after {timeout}s"
        time.sleep(0.1)


def in_pty(pm: Podman, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs podman under script(1), so that podman's stdin/stdout is a terminal."""
    require("script", packages="bsdutils")
    return run(["script", "--quiet", "--return", "--command", shlex.join(pm.argv(*args)),
                "/dev/null"], env=pm.env, timeout=timeout)


def test_engine_sees_runtime(podman: Podman) -> None:
    info = podman("info", "--format", "{{.Host.OCIRuntime.Name}}|{{.Host.OCIRuntime.Path}}",
                  check=True).stdout.strip()
    assert info == f"lxcri|{podman.wrapper}"
    assert runtime_calls(podman, "--version")


def test_run_rm_output_and_exit_code(podman: Podman) -> None:
    name = new_id("run")
    proc = podman(*podman.run_args("--rm", "--name", name, "--hostname", "lxcri-test-host",
                                   podman.image, "sh", "-c",
                                   "echo hello from $(hostname), pid $$; exit 7"))
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "hello from lxcri-test-host, pid 1\n"
    assert podman("ps", "--all", "--quiet", check=True).stdout == ""
    # Named in runtime_supports_json: conmon passes the JSON log flags.
    create = runtime_calls(podman, "create")
    assert create and "--log-format=json" in create[-1] and "--log " in create[-1]
    assert runtime_calls(podman, "start") and runtime_calls(podman, "delete")
    ok = podman(*podman.run_args("--rm", podman.image, "true"))
    assert (ok.returncode, ok.stdout) == (0, "")


def test_detached_exec_stop_rm(podman: Podman) -> None:
    name = new_id("detached")
    podman(*podman.run_args("--detach", "--name", name, podman.image, "sh", "-c", TRAP_TERM),
           check=True)
    assert podman.status(name) == "running 0"

    proc = podman("exec", name, "sh", "-c", "echo exec in $(hostname); exit 4")
    assert proc.returncode == 4, proc.stderr
    assert proc.stdout.startswith("exec in ")
    exec_calls = runtime_calls(podman, "exec")
    assert exec_calls and "--process" in exec_calls[-1] and "--detach" in exec_calls[-1]

    podman("exec", "--detach", name, "sh", "-c", "echo marker > /tmp/marker", check=True)
    deadline = time.monotonic() + 10
    while podman("exec", name, "cat", "/tmp/marker").stdout != "marker\n":
        assert time.monotonic() < deadline, "exec --detach never wrote its marker"
        time.sleep(0.1)

    started = time.monotonic()
    podman("stop", "--time", "20", name, check=True)
    assert time.monotonic() - started < 15, "SIGTERM did not reach the container"
    assert wait_exited(podman, name) == "3"
    podman("rm", name, check=True)
    assert podman("ps", "--all", "--quiet", check=True).stdout == ""


def test_rm_force_running(podman: Podman) -> None:
    name = new_id("rmf")
    podman(*podman.run_args("--detach", "--name", name, podman.image, "sleep", "1000"),
           check=True)
    podman("rm", "--force", "--time", "0", name, check=True)
    assert podman("ps", "--all", "--quiet", check=True).stdout == ""
    assert any("--force" in c for c in runtime_calls(podman, "delete"))


def test_tty_run_and_exec(podman: Podman) -> None:
    proc = in_pty(podman, *podman.run_args(
        "--rm", "--tty", podman.image, "sh", "-c",
        "tty; test -t 0 && test -t 1 && echo both-tty; exit 5"))
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert proc.stdout.replace("\r\n", "\n") == "/dev/pts/0\nboth-tty\n"
    assert "--console-socket" in runtime_calls(podman, "create")[-1]

    name = new_id("tty")
    podman(*podman.run_args("--detach", "--name", name, podman.image, "sleep", "1000"),
           check=True)
    proc = in_pty(podman, "exec", "--tty", name, "sh", "-c", "tty; exit 6")
    assert proc.returncode == 6, proc.stdout + proc.stderr
    assert proc.stdout.replace("\r\n", "\n").startswith("/dev/pts/")
    last = runtime_calls(podman, "exec")[-1]
    # podman 4 passes --tty; podman 5 only sets terminal in the --process file
    assert "--console-socket" in last and ("--tty" in last or "--process" in last)


def test_pause_unpause(podman: Podman) -> None:
    name = new_id("pause")
    podman(*podman.run_args("--detach", "--name", name, podman.image, "sleep", "1000"),
           check=True)
    cid = podman("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    podman("pause", name, check=True)
    assert podman.status(name) == "paused 0"
    # The runtime itself must agree (podman asks it only when it needs to).
    state = run([podman.runtime, "--root", str(podman.runtime_root), "state", cid], check=True)
    assert '"paused"' in state.stdout
    podman("unpause", name, check=True)
    assert podman.status(name) == "running 0"
    assert podman("exec", name, "echo", "alive", check=True).stdout == "alive\n"
    assert runtime_calls(podman, "pause") and runtime_calls(podman, "resume")


def test_kill(podman: Podman) -> None:
    term, kill = new_id("term"), new_id("kill")
    for name in (term, kill):
        podman(*podman.run_args("--detach", "--name", name, podman.image, "sh", "-c",
                                TRAP_TERM), check=True)
    podman("kill", "--signal", "TERM", term, check=True)
    podman("kill", kill, check=True)  # SIGKILL by default
    assert wait_exited(podman, term) == "3"
    assert wait_exited(podman, kill) == "137"
    kills = runtime_calls(podman, "kill")
    assert any(k.endswith(" 15") for k in kills) and any(k.endswith(" 9") for k in kills)


def test_preserve_fds(podman: Podman, tmp_path: Path) -> None:
    data = tmp_path / "fd3.txt"
    data.write_text("passed through fd 3\n")
    proc = run(["sh", "-c", 'f=$1; shift; exec "$@" 3<"$f"', "sh", str(data),
                *podman.argv(*podman.run_args("--rm", "--preserve-fds", "1", podman.image,
                                              "sh", "-c", "cat <&3"))],
               env=podman.env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "passed through fd 3\n"
    assert "--preserve-fds 1" in runtime_calls(podman, "create")[-1]


def test_missing_executable(podman: Podman) -> None:
    name = new_id("missing")
    proc = podman(*podman.run_args("--rm", "--name", name, podman.image,
                                   "/no/such/lxcri-test-cmd"))
    # podman's message is the runtime's error (read from its --log JSON); podman maps a
    # "not found" / "No such file or directory" text to 127, as docker does.
    assert "/no/such/lxcri-test-cmd" in proc.stderr, proc.stderr
    assert proc.returncode == 127, proc.stderr
    assert podman("ps", "--all", "--quiet", check=True).stdout == ""


def lxcri_runtimes(pm: Podman) -> Dict[str, str]:
    """container id -> the backend lxcri runs it on, from `lxcri list` in podman's runtime root."""
    listed = json.loads(run([pm.runtime, "--root", str(pm.runtime_root), "list", "--format",
                             "json"], check=True).stdout)
    return {entry["id"]: entry["runtime"] for entry in listed}


def test_routing_rule_sends_a_name_pattern_to_runc(podman: Podman) -> None:
    """A [[routing]] rule in lxcri.toml sends containers named lxcri-test-db-* to runc.

    podman 4 passes the runtime the container's id, never its name, so the name
    reaches lxcri as the annotation lxcri.name (`podman run --annotation`); CRI
    engines put it in their own annotations, which the rules read as well."""
    if os.path.basename(podman.runtime) != "lxcri":
        pytest.skip("routing rules are lxcri's; the runtime under test is not lxcri")
    require("runc", packages="runc")
    podman.lxcri_toml.write_text('[[routing]]\npattern = "lxcri-test-db-*"\nruntime = "runc"\n')
    try:
        db, web = new_id("db"), new_id("web")
        for name in (db, web):
            podman(*podman.run_args("-d", "--name", name, "--annotation", f"lxcri.name={name}",
                                    podman.image, "sleep", "60"), check=True)
        ids = {name: podman("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
               for name in (db, web)}
        runtimes = lxcri_runtimes(podman)
        assert (runtimes[ids[db]], runtimes[ids[web]]) == ("runc", "crun")
        # podman's later calls (exec, kill, delete) carry no rule: ownership routes them.
        assert podman("exec", db, "sh", "-c", "echo in-runc", check=True).stdout == "in-runc\n"
        podman("stop", "--time", "1", db, check=True)
        assert podman("inspect", "--format", "{{.State.Status}}", db,
                      check=True).stdout.strip() == "exited"
        podman("rm", db, check=True)
        assert ids[db] not in lxcri_runtimes(podman)
        # A foreground run through the rule keeps podman's exit code.
        proc = podman(*podman.run_args("--rm", "--name", new_id("db"), "--annotation",
                                       "lxcri.name=lxcri-test-db-fg", podman.image, "sh", "-c",
                                       "echo fg; exit 9"))
        assert (proc.returncode, proc.stdout) == (9, "fg\n"), proc.stderr
    finally:
        podman.lxcri_toml.write_text("")
    assert not [cid for cid, rt in lxcri_runtimes(podman).items() if rt == "runc"]


def test_runtime_annotation_routes_a_podman_container(podman: Podman) -> None:
    """`podman run --annotation lxcri.runtime=runc` picks the backend for one container."""
    if os.path.basename(podman.runtime) != "lxcri":
        pytest.skip("the lxcri.runtime annotation is lxcri's; the runtime under test is not lxcri")
    require("runc", packages="runc")
    name = new_id("ann")
    podman(*podman.run_args("-d", "--name", name, "--annotation", "lxcri.runtime=runc",
                            podman.image, "sleep", "60"), check=True)
    cid = podman("inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
    assert lxcri_runtimes(podman)[cid] == "runc"
    podman("rm", "-f", name, check=True)
    assert cid not in lxcri_runtimes(podman)
