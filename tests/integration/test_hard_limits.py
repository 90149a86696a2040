"""Failing hooks and the limits the runtime itself hits: one clear line each, nothing left behind.

Real hooks (exit status, a signal, a missing file, a timeout), rlimits libcrun applies to
its caller, a full state root and bundle directory (a small tmpfs), too few file
descriptors, configs nested 100000 levels deep, 200 MB large, or not UTF-8.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

from errs_support import err_id, leftovers, one_line
from support import LXCRI, Cli, needs_strace

BundleFactory = Callable[..., Path]


def _hook(kind: str, **hook: Any) -> Callable[[Dict[str, Any]], None]:
    def edit(spec: Dict[str, Any]) -> None:
        spec["hooks"] = {kind: [hook]}
    return edit


HOOK_CASES = [
    # (kind, hook, what the message must say)
    ("prestart", {"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}, "exited with status 3"),
    ("prestart", {"path": "/bin/sh", "args": ["sh", "-c", "kill -KILL $$"]},
     "was killed by SIGKILL"),
    ("prestart", {"path": "/nonexistent/lxcri-hook"}, "cannot be run: the file does not exist"),
    ("prestart", {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1},
     "did not finish within its timeout of 1 s"),
    ("createRuntime", {"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}, "exited with status 4"),
    ("createContainer", {"path": "/bin/sh", "args": ["sh", "-c", "exit 5"]},
     "exited with status 5"),
]


@pytest.mark.core
@pytest.mark.parametrize("command", ["create", "run"])
@pytest.mark.parametrize("kind,hook,how", HOOK_CASES,
                         ids=["exit3", "signal", "missing", "timeout", "createRuntime",
                              "createContainer"])
def test_a_failing_hook_says_which_and_how(cli: Cli, make_bundle: BundleFactory, command: str,
                                           kind: str, hook: Dict[str, Any], how: str) -> None:
    bundle = make_bundle("true", edit=_hook(kind, **hook))
    id = err_id("hook")
    proc = cli(command, "--bundle", str(bundle), id)
    assert proc.returncode != 0
    line = proc.stderr.strip().splitlines()[-1]
    assert f"the {kind} hook {hook['path']} {how}" in line, proc.stderr
    assert f"hooks.{kind} in {bundle}/config.json" in line
    if kind != "createContainer":  # that one's init may print libcrun's own line too (racy)
        one_line(proc.stderr)
    assert leftovers(cli.root, id) == []


@pytest.mark.core
def test_a_failing_hook_through_the_library(runtime: Any, make_bundle: BundleFactory) -> None:
    import lxcri

    bundle = make_bundle("true", edit=_hook("prestart", path="/bin/sh",
                                            args=["sh", "-c", "exit 7"]))
    id = err_id("hooklib")
    with pytest.raises(lxcri.HookFailed, match="prestart hook /bin/sh exited with status 7"):
        runtime.run(id, str(bundle), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert leftovers(Path(runtime.root), id) == []


@pytest.mark.core
def test_a_hook_that_succeeds_prints_nothing_and_runs(cli: Cli, make_bundle: BundleFactory,
                                                     tmp_path: Path) -> None:
    mark = tmp_path / "ran"
    bundle = make_bundle("true", edit=_hook("prestart", path="/bin/sh",
                                            args=["sh", "-c", f"echo ok > {mark}"]))
    proc = cli("run", "--bundle", str(bundle), err_id("hookok"))
    assert (proc.returncode, proc.stderr) == (0, "")
    assert mark.read_text() == "ok\n"


# A hook may exit before the runtime has written the state to its stdin. Which comes
# first is a race; strace's delay on every write makes the hook win it each time.
SLOW_WRITES = ["strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=write",
               "-e", "inject=write:delay_enter=50000"]


def _unread_hook(status: int) -> Callable[[Dict[str, Any]], None]:
    return _hook("prestart", path="/bin/sh", args=["sh", "-c", f"exit {status}"])


def _slowly(*argv: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([*SLOW_WRITES, *argv], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.core
@pytest.mark.parametrize("command", ["create", "run"])
def test_a_hook_that_exits_before_its_state_is_written_is_judged_by_its_status(
        cli: Cli, make_bundle: BundleFactory, command: str) -> None:
    needs_strace()
    id = err_id("hookunread")
    proc = _slowly(LXCRI, "--root", str(cli.root), command, "--bundle",
                   str(make_bundle("true", edit=_unread_hook(3))), id)
    assert proc.returncode != 0
    line = proc.stderr.strip().splitlines()[-1]  # strace may warn before it
    assert "the prestart hook /bin/sh exited with status 3" in line, proc.stderr
    assert leftovers(cli.root, id) == []


@pytest.mark.core
def test_a_hook_that_exits_0_before_its_state_is_written_lets_the_container_run(
        cli: Cli, make_bundle: BundleFactory) -> None:
    # `run` only: strace would wait for a created container's process to end
    needs_strace()
    id = err_id("hookunreadok")
    proc = _slowly(LXCRI, "--root", str(cli.root), "run", "--bundle",
                   str(make_bundle("true", edit=_unread_hook(0))), id)
    assert proc.returncode == 0, proc.stderr
    assert leftovers(cli.root, id) == []


LIBRARY_RUN = """
import subprocess, sys, lxcri
runtime = lxcri.Runtime(root=sys.argv[1])
try:
    print(runtime.run(sys.argv[2], sys.argv[3], stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL))
except lxcri.HookFailed as e:
    print(e)
"""


@pytest.mark.core
def test_a_hook_that_exits_before_its_state_is_written_through_the_library(
        state_root: Path, make_bundle: BundleFactory) -> None:
    needs_strace()
    id = err_id("hookunreadlib")
    got = [_slowly(sys.executable, "-c", LIBRARY_RUN, str(state_root), id,
                   str(make_bundle("true", edit=_unread_hook(status)))).stdout.strip()
           for status in (0, 7)]
    assert got[0] == "0"
    assert "the prestart hook /bin/sh exited with status 7" in got[1]
    assert leftovers(state_root, id) == []


# --- rlimits libcrun applies to the runtime itself -------------------------------------------

def _nofile(value: int) -> Callable[[Dict[str, Any]], None]:
    def edit(spec: Dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": value, "soft": value}]
    return edit


@pytest.mark.core
@pytest.mark.parametrize("value", [0, 3, 10, 63])
def test_rlimit_nofile_below_what_the_runtime_needs_is_refused(
        cli: Cli, make_bundle: BundleFactory, value: int) -> None:
    bundle = make_bundle("true", edit=_nofile(value))
    id = err_id("nofile")
    proc = cli("run", "--bundle", str(bundle), id)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert f"process.rlimits: RLIMIT_NOFILE {value} is too low" in line
    assert "at least 64" in line
    assert leftovers(cli.root, id) == []


@pytest.mark.core
def test_rlimit_nofile_the_runtime_can_live_with_reaches_the_container_and_the_runtime_survives(
        cli: Cli, make_bundle: BundleFactory) -> None:
    """libcrun sets the container's rlimits on its caller before cloning the init; lxcri
    goes on (writes its records, answers) with them and sets its own back afterwards."""
    bundle = make_bundle("sh", "-c", "ulimit -n", edit=_nofile(64))
    id = err_id("nofile64")
    proc = cli("run", "--bundle", str(bundle), id)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "64\n", "")
    proc = cli("create", "--bundle", str(bundle), id)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert cli.state(id)["status"] == "created"
    cli("delete", "--force", id, check=True)
    assert leftovers(cli.root, id) == []


@pytest.mark.core
def test_too_few_file_descriptors_for_the_runtime(cli: Cli, make_bundle: BundleFactory) -> None:
    """lxcri started with `ulimit -n 12`: libcrun runs out of descriptors part way."""
    bundle = make_bundle("true", edit=lambda spec: spec["process"].pop("rlimits", None))

    def few_fds() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (12, resource.getrlimit(
            resource.RLIMIT_NOFILE)[1]))

    for n, id in enumerate(err_id(f"emfile{i}") for i in range(2)):
        if n:  # the second attempt: with enough descriptors the same bundle runs
            proc = cli("run", "--bundle", str(bundle), id)
            assert proc.returncode == 0, proc.stderr
            continue
        proc = cli("run", "--bundle", str(bundle), id, preexec_fn=few_fds)
        assert proc.returncode == 1
        line = one_line(proc.stderr)
        assert "ran out of file descriptors" in line and "ulimit -n" in line, line
        assert leftovers(cli.root, id) == []


# --- a full disk ------------------------------------------------------------------------------

@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs, unmounted afterwards whatever happened."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mnt)],
                   check=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(mnt: Path, leave_pages: int) -> None:
    fill = mnt / "fill"
    fill.unlink(missing_ok=True)
    with open(fill, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    # Give back as many pages as asked for.
    size = fill.stat().st_size
    os.truncate(fill, max(0, size - leave_pages * 4096))


@pytest.mark.core
@pytest.mark.parametrize("free_pages", [0, 1, 2])
def test_a_full_state_root(tiny_tmpfs: Path, make_bundle: BundleFactory,
                           free_pages: int) -> None:
    """--root on a full file system: wherever the write fails (lxcri's ownership record,
    libcrun's copy of config.json, its status file), one line that says the disk is full."""
    root = tiny_tmpfs / "state"
    cli = Cli(root)
    bundle = make_bundle("true")
    id = err_id("enospc")
    _fill(tiny_tmpfs, free_pages)
    try:
        proc = cli("run", "--bundle", str(bundle), id)
        assert proc.returncode == 1, "a container ran on a full state root"
        line = one_line(proc.stderr)
        assert "No space left on device" in line or "no space left on device" in line, line
        assert "free space" in line
        assert leftovers(root, id) == []
    finally:
        (tiny_tmpfs / "fill").unlink(missing_ok=True)
        cli("delete", "--force", id)


@pytest.mark.core
def test_a_full_bundle_directory(cli: Cli, tiny_tmpfs: Path, make_bundle: BundleFactory) -> None:
    """The bundle (and the pid file beside it) on a full file system."""
    source = make_bundle("sleep", "10")
    bundle = tiny_tmpfs / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_bytes((source / "config.json").read_bytes())
    id = err_id("enospcb")
    _fill(tiny_tmpfs, 0)
    proc = cli("create", "--bundle", str(bundle), "--pid-file", str(bundle / "pid"), id)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert f"{bundle}/pid" in line and "No space left on device" in line and "free space" in line
    assert leftovers(cli.root, id) == []


# --- config.json documents no real one looks like -----------------------------------------------

DEPTH = 100_000


def _documents(base: Dict[str, Any]) -> Dict[str, bytes]:
    deep_list = b"[" * DEPTH + b"]" * DEPTH
    deep_object = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    valid = json.dumps(base).encode()
    in_args = valid.replace(b'"args": ["true"]', b'"args": ' + deep_list)
    assert in_args != valid
    return {
        "deep-list": deep_list,
        "deep-object": deep_object,
        "deep-in-process-args": in_args,
        "not-utf8": valid.replace(b'"true"', b'"tr\xff\xfeue"'),
        "nul-in-root-path": valid.replace(b'"root": {"path": "', b'"root": {"path": "\\u0000'),
    }


@pytest.mark.core
@pytest.mark.parametrize("name,needle", [
    ("deep-list", "nests arrays or objects deeper than lxcri reads"),
    ("deep-object", "nests arrays or objects deeper than lxcri reads"),
    ("deep-in-process-args", "nests arrays or objects deeper than lxcri reads"),
    ("not-utf8", "not UTF-8"),
    ("nul-in-root-path", "NUL"),
])
def test_documents_no_real_config_looks_like(cli: Cli, make_bundle: BundleFactory, name: str,
                                             needle: str) -> None:
    bundle = make_bundle("true")
    base = json.loads((bundle / "config.json").read_text())
    (bundle / "config.json").write_bytes(_documents(base)[name])
    id = err_id("doc")
    proc = cli("run", "--bundle", str(bundle), id, timeout=60)
    assert proc.returncode == 1
    assert needle in one_line(proc.stderr)
    assert leftovers(cli.root, id) == []


@pytest.mark.core
@pytest.mark.parametrize("size_mb", [17, 200])
def test_a_config_larger_than_lxcri_reads_is_refused_unread(cli: Cli, make_bundle: BundleFactory,
                                                            size_mb: int) -> None:
    bundle = make_bundle("true")
    config = bundle / "config.json"
    text = config.read_text()
    # A valid document padded with whitespace to the size (sparse where it is padding).
    with open(config, "r+") as f:
        f.write(text)
        f.truncate(size_mb << 20)
    with open(config, "r+b") as f:
        f.seek(len(text))
        f.write(b" ")
    id = err_id("huge")
    proc = cli("run", "--bundle", str(bundle), id)
    assert proc.returncode == 1
    line = one_line(proc.stderr)
    assert f"is {size_mb} MiB, more than the 16 MiB lxcri reads" in line
    assert leftovers(cli.root, id) == []


@pytest.mark.core
def test_a_config_just_under_the_bound_runs(cli: Cli, make_bundle: BundleFactory) -> None:
    big = "x" * (15 << 20)
    bundle = make_bundle("true", edit=lambda spec: spec.setdefault("annotations", {}).update(
        {"org.example.big": big}))
    proc = cli("run", "--bundle", str(bundle), err_id("big"))
    assert (proc.returncode, proc.stderr) == (0, "")
