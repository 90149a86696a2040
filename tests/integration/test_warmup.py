"""The launcher's cgroup warm-up child (launcher/lxcri.c, lxcri.host.warmup).

For create, run and exec on a host with cgroup v1 hierarchies the launcher forks a
child that moves itself into its own cgroup while the interpreter starts, and passes
its pid in LXCRI_WARMUP_PID. These tests check what it must never do: hold the
caller's fds, outlive the command, be there when the backend runs, or reach a process
that is not the launcher's own child.

The first tests run the real launcher binary in a throwaway venv whose `python3` is a
shell script (a labelled fake interpreter) that reports what it was given; the others
run the installed command.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import pytest

from support import LXCRI, Cli, needs_root, new_id, process_state

pytestmark = pytest.mark.core

FAKE_PYTHON = """#!/bin/sh
# A fake interpreter: reports the warm-up child the launcher passed, then exits.
out={out}
pid="${{LXCRI_WARMUP_PID:-none}}"
echo "pid=$pid self=$$" > "$out"
if [ "$pid" != none ]; then
  sleep 0.1
  cat /proc/"$pid"/stat >> "$out" 2>/dev/null
  for fd in /proc/"$pid"/fd/*; do echo "fd $(readlink "$fd")" >> "$out"; done
fi
"""


def has_cgroup_v1() -> bool:
    with open("/proc/self/cgroup") as f:
        return any(not line.startswith("0:") for line in f if line.strip())


def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv the launcher takes its fast path in, with a fake python3; (launcher, report)."""
    real_bin = Path(LXCRI).parent
    cfg = (real_bin.parent / "pyvenv.cfg").read_text()
    version = next(line.split("=", 1)[1].strip() for line in cfg.splitlines()
                   if line.split("=", 1)[0].strip() in ("version", "version_info"))
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    site = venv / "lib" / f"python{'.'.join(version.split('.')[:2])}" / "site-packages"
    (site / "lxcri").mkdir(parents=True)
    (site / "lxcri" / "_launch.py").write_text("")
    (venv / "pyvenv.cfg").write_text(cfg)
    report = tmp_path / "report"
    python = venv / "bin" / "python3"
    python.write_text(FAKE_PYTHON.format(out=report))
    python.chmod(0o755)
    launcher = venv / "bin" / "lxcri"
    shutil.copyfile(LXCRI, launcher)
    launcher.chmod(0o755)
    return launcher, report


def launch(launcher: Path, report: Path, *args: str,
           env: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    done = subprocess.run([str(launcher), *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})})
    assert done.returncode == 0, done.stderr
    lines = report.read_text().splitlines()
    head = dict(part.split("=", 1) for part in lines[0].split())
    result: Dict[str, Any] = {"pid": head["pid"], "self": int(head["self"]), "stat": None,
                              "fds": [line[3:] for line in lines[1:] if line.startswith("fd ")]}
    stat = [line for line in lines[1:] if not line.startswith("fd ")]
    if stat:
        comm, rest = stat[0].rsplit(")", 1)
        result["stat"] = (comm.split("(", 1)[1], rest.split())
    return result


def gone(pid: int, seconds: float = 5.0) -> bool:
    """Whether pid has exited (gone, or a zombie waiting for its reaper) within seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process_state(pid) in (None, "Z", "X"):
            return True
        time.sleep(0.02)
    return False


def test_create_run_and_exec_get_a_child_that_holds_nothing_and_dies_with_the_command(
        tmp_path: Path) -> None:
    needs_root()
    if not has_cgroup_v1():
        pytest.skip("no cgroup v1 hierarchy here: the launcher has nothing to warm up")
    launcher, report = fake_venv(tmp_path)
    for args in (("create", "-b", "/x", "c1"), ("--root", "/tmp/r", "run", "c1"),
                 ("--log-format", "json", "--debug", "exec", "c1", "true")):
        seen = launch(launcher, report, *args)
        assert seen["pid"] != "none", (args, seen)
        pid = int(seen["pid"])
        assert seen["stat"] is not None, (args, seen)
        comm, fields = seen["stat"]
        assert comm == "lxcri" and int(fields[1]) == seen["self"], (args, seen)  # its child
        # None of the caller's fds: only the cgroup file it moves itself through.
        assert len(seen["fds"]) == 1 and seen["fds"][0].startswith("/sys/fs/cgroup/"), seen
        assert seen["fds"][0].endswith("/cgroup.procs"), seen
        # The process it belongs to has exited: so has the child (PR_SET_PDEATHSIG).
        assert gone(pid, 1.0), (args, pid)


def test_other_commands_and_the_opt_out_get_no_child(tmp_path: Path) -> None:
    needs_root()
    launcher, report = fake_venv(tmp_path)
    for args, env in ((("state", "run"), None), (("--root", "create", "list"), None),
                      (("kill", "x", "KILL"), None), (("delete", "run"), None),
                      (("run", "x"), {"LXCRI_CGROUP_WARMUP": "0"})):
        assert launch(launcher, report, *args, env=env)["pid"] == "none", args


def test_a_stale_variable_from_the_environment_reaches_nothing(
        cli: Cli, make_bundle: Any, tmp_path: Path) -> None:
    """The launcher drops an inherited LXCRI_WARMUP_PID, and lxcri only ever signals a
    child of its own: a process of the caller's named there survives the command."""
    needs_root()
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        env = {**os.environ, "LXCRI_WARMUP_PID": str(bystander.pid)}
        cid = new_id("warmstale")
        assert cli("run", "--bundle", str(make_bundle("true")), cid, env=env).returncode == 0
        seen = launch(*fake_venv(tmp_path), "state", "x",
                      env={"LXCRI_WARMUP_PID": str(bystander.pid)})
        assert seen["pid"] == "none"
        # And the library, which no launcher started, ignores it too.
        code = subprocess.run(
            [sys.executable, "-c", "import sys, lxcri.host.warmup as w; w.take(); w.stop();"
             " sys.exit(0 if not w.pending() else 1)"],
            env=env, timeout=30).returncode
        assert code == 0
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_the_backend_never_sees_the_warmup_child(cli: Cli, make_bundle: Any,
                                                tmp_path: Path) -> None:
    """A prestart hook (a child of the lxcri process, run by libcrun) finds no other child
    of that process named lxcri: the warm-up child was ended and reaped before libcrun
    started, so a foreground run never waits for it."""
    needs_root()
    found = tmp_path / "found"
    code = (
        "import os\n"
        "parent = os.getppid()\n"
        "kids = []\n"
        "for entry in os.listdir('/proc'):\n"
        "    if not entry.isdigit():\n"
        "        continue\n"
        "    try:\n"
        "        data = open(f'/proc/{entry}/stat').read()\n"
        "    except OSError:\n"
        "        continue\n"
        "    comm, rest = data.rsplit(')', 1)\n"
        "    if int(rest.split()[1]) == parent and comm.endswith('(lxcri'):\n"
        "        kids.append(entry)\n"
        f"open({str(found)!r}, 'w').write(' '.join(kids) + '\\n')\n"
    )

    def edit(spec: Dict[str, Any]) -> None:
        spec["hooks"] = {"prestart": [{"path": sys.executable,
                                       "args": [sys.executable, "-c", code]}]}

    bundle = make_bundle("true", edit=edit)
    for command in ("run", "create"):
        cid = new_id("warmhook")
        done = cli(command, "--bundle", str(bundle), cid)
        try:
            assert done.returncode == 0, done.stderr
            assert found.read_text() == "\n", (command, found.read_text())
        finally:
            cli("delete", "--force", cid)
        found.unlink()


def test_the_library_warm_up_moves_only_its_own_thread() -> None:
    """lxcri.Runtime's warm-up (warmup.nudge): a thread moves itself into the v1 cgroup
    it is in; the kernel takes it, and the process's cgroups are what they were."""
    import threading

    from lxcri.host import procfs, warmup

    before = procfs.cgroup()
    moved: list[bool] = []
    t = threading.Thread(target=lambda: moved.append(warmup._move_self()))
    t.start()
    t.join(30)
    # Without a v1 hierarchy (Proxmox VE 7+) there is nothing to warm up.
    assert moved == [warmup.v1_tasks(before) is not None]
    assert procfs.cgroup() == before
