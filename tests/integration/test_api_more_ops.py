"""exec, pause/resume, ps, update, run --keep, preserved fds, spec and features through
lxcri.Runtime with real containers."""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import lxcri
from lxcri.runtime import features, write_spec
from support import memory_limit_of, new_id, state_left

pytestmark = [pytest.mark.integration, pytest.mark.core]


def running(runtime: Any, make_bundle: Any, *args: str) -> str:
    cid = new_id("ops")
    runtime.run(cid, str(make_bundle(*(args or ("sleep", "60")))), detach=True,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert runtime.state(cid).status == "running"
    return cid


def test_exec_foreground_exit_code_env_user_cwd(runtime: Any, make_bundle: Any,
                                               tmp_path: Path) -> None:
    cid = running(runtime, make_bundle)
    out = tmp_path / "out"
    with open(out, "w") as f:
        code = runtime.exec(cid, args=["sh", "-c", "echo $FOO $(id -u):$(id -g) $(pwd); exit 9"],
                            env=["FOO=bar", "PATH=/bin"], user="1:2", cwd="/tmp", stdout=f, stderr=f)
    assert (code, out.read_text()) == (9, "bar 1:2 /tmp\n")


def test_exec_from_a_process_file_and_detached(runtime: Any, make_bundle: Any,
                                               tmp_path: Path) -> None:
    cid = running(runtime, make_bundle)
    proc = tmp_path / "process.json"
    proc.write_text(json.dumps({"args": ["sh", "-c", "exit 4"], "cwd": "/",
                                "env": ["PATH=/bin"], "user": {"uid": 0, "gid": 0}}))
    assert runtime.exec(cid, process=str(proc)) == 4
    pid_file = tmp_path / "exec.pid"
    assert runtime.exec(cid, args=["sleep", "30"], detach=True, pid_file=str(pid_file),
                        env=["PATH=/bin"]) == 0
    pid = int(pid_file.read_text())
    assert pid in runtime.ps(cid)
    assert len(runtime.ps(cid)) == 2


def test_exec_bad_input(runtime: Any, make_bundle: Any) -> None:
    cid = running(runtime, make_bundle)
    with pytest.raises(lxcri.InvalidArgument):
        runtime.exec(cid)
    with pytest.raises(lxcri.InvalidArgument):
        runtime.exec(cid, args=["true"], user="root")
    with pytest.raises(lxcri.ContainerNotFound):
        runtime.exec("lxcri-test-nonexistent", args=["true"])
    assert state_left(runtime.root) == sorted([cid, f".lxcri/owners/{cid}"])  # no process file


def test_pause_resume(runtime: Any, make_bundle: Any) -> None:
    cid = running(runtime, make_bundle)
    runtime.pause(cid)
    assert runtime.state(cid).status == "paused"
    runtime.resume(cid)
    assert runtime.state(cid).status == "running"


def test_update_memory_limit_reaches_the_cgroup(runtime: Any, make_bundle: Any) -> None:
    cid = running(runtime, make_bundle)
    runtime.update(cid, {"memory": {"limit": 64 * 1024 * 1024}, "pids": {"limit": 50}})
    assert memory_limit_of(runtime.state(cid).pid) == 64 * 1024 * 1024


def test_run_keep_leaves_the_stopped_container(runtime: Any, make_bundle: Any) -> None:
    cid = new_id("keep")
    assert runtime.run(cid, str(make_bundle("sh", "-c", "exit 6")), keep=True) == 6
    assert runtime.state(cid).status == "stopped"
    runtime.delete(cid)


def test_preserved_fds_reach_the_container(runtime: Any, make_bundle: Any, tmp_path: Path) -> None:
    r, w = os.pipe()
    # The preserved fd must be fd 3 in the caller; whatever holds 3 now (pytest's
    # capture does) is put back afterwards.
    try:
        saved = os.dup(3)
    except OSError:
        saved = -1
    try:
        os.dup2(w, 3)
        os.close(w)
        code = runtime.run(new_id("fds"), str(make_bundle("sh", "-c", "echo via-fd3 >&3")),
                           preserve_fds=1)
    finally:
        if saved >= 0:
            os.dup2(saved, 3)
            os.close(saved)
        else:
            os.close(3)
    try:
        assert code == 0
        assert os.read(r, 100) == b"via-fd3\n"
    finally:
        os.close(r)


def test_spec_and_features(tmp_path: Path) -> None:
    path = write_spec(str(tmp_path))
    spec = json.loads(Path(path).read_text())
    assert spec["ociVersion"] and spec["process"]["args"]
    with pytest.raises(FileExistsError):
        write_spec(str(tmp_path))
    doc = features()
    assert doc["ociVersionMin"] == "1.0.0"
    assert "CAP_SYS_ADMIN" in doc["linux"]["capabilities"]
    assert {"bind", "ro", "nosuid"} <= set(doc["mountOptions"])
    assert "pid" in doc["linux"]["namespaces"]


def test_log_file_receives_libcrun_errors_as_json(state_root: Path, make_bundle: Any,
                                                  tmp_path: Path) -> None:
    log = tmp_path / "log.json"
    with lxcri.Runtime(root=str(state_root), log=str(log), log_format="json") as rt:
        with pytest.raises(lxcri.LxcriError):
            rt.run(new_id(), str(make_bundle("/bin/no-such-program")))
    deadline = time.monotonic() + 5
    while not log.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        assert {"msg", "level", "time"} <= set(entry)


def test_console_socket_receives_the_pty_master(runtime: Any, make_bundle: Any,
                                                tmp_path: Path) -> None:
    import socket
    import threading

    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    got: dict[str, Any] = {}

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            _msg, fds, _flags, _addr = socket.recv_fds(conn, 4096, 1)
            got["fd"] = fds[0]

    t = threading.Thread(target=accept)
    t.start()
    cid = new_id("tty")
    bundle = make_bundle("sh", "-c", "tty; echo on-the-pty; sleep 5",
                         edit=lambda s: s["process"].__setitem__("terminal", True))
    try:
        runtime.create(cid, str(bundle), console_socket=path)
        t.join(10)
        assert "fd" in got, "no pty master arrived on the console socket"
        runtime.start(cid)
        data = b""
        deadline = time.monotonic() + 10
        while b"on-the-pty" not in data and time.monotonic() < deadline:
            data += os.read(got["fd"], 1024)
        assert b"/dev/pts/" in data or b"/dev/console" in data
        assert b"on-the-pty" in data
    finally:
        server.close()
        if "fd" in got:
            os.close(got["fd"])
