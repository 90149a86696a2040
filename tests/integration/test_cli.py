"""The `lxcri` command with real containers through the embedded crun backend."""
from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict

import pytest

from support import LXCRI, Cli, needs_strace, new_id, state_left

pytestmark = [pytest.mark.integration, pytest.mark.core]


def wait_status(cli: Cli, id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        proc = cli("state", id)
        if proc.returncode == 0 and json.loads(proc.stdout)["status"] == status:
            return
        assert time.monotonic() < deadline, f"{id} never became {status}: {proc.stderr}"
        time.sleep(0.05)


def test_version() -> None:
    out = subprocess.run([LXCRI, "--version"], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("lxcri version ")
    assert lines[1].startswith("libcrun version ")
    assert lines[2].startswith("spec: 1.")
    assert "+SECCOMP" in lines[3] and "+CAP" in lines[3]


def test_run_exit_codes_and_stdout(cli: Cli, make_bundle: Any) -> None:
    ok = cli("run", "--bundle", str(make_bundle("true")), new_id())
    assert (ok.returncode, ok.stderr) == (0, "")
    seven = cli("run", "--bundle", str(make_bundle(
        "sh", "-c", "echo hello from $(hostname), pid $$; exit 7", hostname="cli-host")), new_id())
    assert seven.returncode == 7
    assert seven.stdout == "hello from cli-host, pid 1\n"
    assert os.listdir(cli.root) == []  # a foreground run leaves nothing behind, not even .lxcri


def test_run_bundle_defaults_to_cwd(cli: Cli, make_bundle: Any) -> None:
    bundle = make_bundle("sh", "-c", "exit 3")
    assert cli("run", new_id(), cwd=str(bundle)).returncode == 3


def test_run_killed_by_signal_exits_137(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    cid = new_id("kill")
    fg = subprocess.Popen([LXCRI, "--root", str(state_root), "run", "--bundle",
                           str(make_bundle("sleep", "60")), cid],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_status(cli, cid, "running")
        assert cli("kill", cid, "KILL").returncode == 0
        assert fg.wait(30) == 137
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()


def test_lifecycle_with_pid_file(cli: Cli, make_bundle: Any, tmp_path: Path) -> None:
    cid = new_id("life")
    pid_file = tmp_path / "ctr.pid"
    log = tmp_path / "out"
    with open(log, "w") as out:
        created = cli("create", "--bundle", str(make_bundle("sh", "-c", "echo started; sleep 60")),
                      "--pid-file", str(pid_file), cid, stdout=out)
    assert created.returncode == 0, created.stderr
    state = cli.state(cid)
    assert state["status"] == "created" and state["id"] == cid
    assert state["pid"] == int(pid_file.read_text())
    assert log.read_text() == ""  # the user's program has not run yet
    assert cli("start", cid).returncode == 0
    wait_status(cli, cid, "running")
    deadline = time.monotonic() + 10
    while log.read_text() != "started\n":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    listed = json.loads(cli("list", "--format", "json", check=True).stdout)
    assert [(c["id"], c["status"]) for c in listed] == [(cid, "running")]
    table = cli("list", check=True).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "PID", "STATUS"] and cid in table[1]
    assert cli("kill", cid).returncode == 0  # TERM by default; sh as pid 1 ignores it
    assert cli("kill", cid, "9").returncode == 0
    wait_status(cli, cid, "stopped")
    assert cli("delete", cid).returncode == 0
    assert cli("state", cid).returncode != 0
    assert state_left(cli.root) == []


def test_state_json_matches_the_oci_shape(cli: Cli, make_bundle: Any) -> None:
    cid = new_id()
    bundle = make_bundle("sleep", "30")
    cli("create", "--bundle", str(bundle), cid, check=True, stdout=subprocess.DEVNULL)
    state = cli.state(cid)
    assert {"ociVersion", "id", "pid", "status", "bundle", "rootfs", "created"} <= set(state)
    assert state["bundle"] == str(bundle)
    assert cli("delete", "--force", cid).returncode == 0


def test_delete_force_of_running_container(cli: Cli, make_bundle: Any) -> None:
    cid = new_id()
    cli("run", "--detach", "--bundle", str(make_bundle("sleep", "60")), cid, check=True,
        stdout=subprocess.DEVNULL)
    pid = cli.state(cid)["pid"]
    assert cli.state(cid)["status"] == "running"
    assert cli("delete", "--force", cid).returncode == 0
    assert cli("state", cid).returncode != 0
    deadline = time.monotonic() + 10
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    break
        except OSError:
            break
        assert time.monotonic() < deadline, "container process survived delete --force"
        time.sleep(0.05)


def test_ctrl_c_reaches_a_foreground_container(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    cid = new_id("int")
    fg = subprocess.Popen([LXCRI, "--root", str(state_root), "run", "--bundle", str(make_bundle(
        "sh", "-c", "trap 'exit 42' INT; while true; do sleep 0.1; done")), cid],
        stdout=subprocess.DEVNULL)
    try:
        wait_status(cli, cid, "running")
        time.sleep(0.3)  # let the shell install its trap
        fg.send_signal(signal.SIGINT)  # forwarded to the container by libcrun
        assert fg.wait(30) == 42
    finally:
        if fg.poll() is None:
            fg.kill()
            fg.wait()


# --- the CVE-2019-5736 guard: the CLI seals /proc/self/exe in place -------------------

SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def host_interpreter() -> str:
    """The interpreter the lxcri command runs on (the launcher starts its venv's python3),
    symlinks resolved."""
    return os.path.realpath(os.path.join(os.path.dirname(LXCRI), "python3"))


def fingerprint(path: str) -> tuple[str, int, int]:
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    st = os.stat(path)
    return digest, st.st_mtime_ns, st.st_ctime_ns


def sealed_init_argv(pid: int, memfd: str) -> list[bytes]:
    """The argv of a created container's process (a copy of the runtime until start),
    once its executable is shown to be the sealed memfd named `memfd`."""
    assert os.readlink(f"/proc/{pid}/exe").startswith(f"/memfd:{memfd}")
    fd = os.open(f"/proc/{pid}/exe", os.O_RDONLY | os.O_CLOEXEC)
    try:
        assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & SEALS == SEALS
    finally:
        os.close(fd)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().split(b"\0")


def test_create_runs_libcrun_in_a_one_shot_zygote(cli: Cli, make_bundle: Any) -> None:
    """By default the CLI does not seal itself: crun's create runs in a one-shot zygote
    (lxcri.backends.crun.zygote), a sealed copy of lxcri-zygote, and that copy is what
    the container's first process is until start."""
    cid = new_id("oneshot")
    created = cli("--debug", "create", "--bundle", str(make_bundle("sleep", "30")), cid)
    assert created.returncode == 0, created.stderr
    assert "seal" not in created.stderr
    try:
        argv = sealed_init_argv(cli.state(cid)["pid"], "lxcri-zygote")
        assert argv[0] == b"lxcri-zygote" and argv[4] == b"one-shot", argv
        # The zygote was no subreaper: the init went to this test's (tini's) side.
        assert cli("start", cid).returncode == 0
        assert cli.state(cid)["status"] == "running"
    finally:
        cli("delete", "--force", cid)


def test_create_seals_in_place_without_a_reexec(cli: Cli, make_bundle: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXCRI_ONE_SHOT", "0")  # the CLI seals itself and calls libcrun
    cid = new_id("seal")
    created = cli("--debug", "create", "--bundle", str(make_bundle("sleep", "30")), cid)
    assert created.returncode == 0, created.stderr
    assert "cannot seal" not in created.stderr
    try:
        pid = cli.state(cid)["pid"]
        # Until start the container's process is a copy of the CLI's: its executable
        # is a sealed memfd, and the process is the one the command started, not a
        # re-exec (which runs `python -I -S -c <boot>` with the boot's sys.path in the
        # environment).
        argv = sealed_init_argv(pid, "lxcri")
        assert b"-c" not in argv and os.fsencode(LXCRI) in argv, argv
        with open(f"/proc/{pid}/environ", "rb") as f:
            assert b"_LXCRI_SEALED_PATH=" not in f.read()
    finally:
        cli("delete", "--force", cid)


def test_create_reexecs_when_it_cannot_seal_in_place(cli: Cli, make_bundle: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # Without CAP_SYS_ADMIN (nor CAP_SYS_RESOURCE) the kernel refuses to change
    # /proc/self/exe: the CLI falls back to the re-exec, saying why only with --debug.
    monkeypatch.setenv("LXCRI_ONE_SHOT", "0")
    drop = ["setpriv", "--inh-caps=-sys_admin,-sys_resource,-checkpoint_restore",
            "--bounding-set=-sys_admin,-sys_resource,-checkpoint_restore", "--"]
    bundle = str(make_bundle("true"))
    ids = [new_id("noseal"), new_id("noseal")]
    try:
        quiet = subprocess.run(drop + cli.argv("create", "--bundle", bundle, ids[0]),
                               capture_output=True, text=True, timeout=60)
        assert "cannot seal" not in quiet.stderr
        loud = subprocess.run(drop + cli.argv("--debug", "create", "--bundle", bundle, ids[1]),
                              capture_output=True, text=True, timeout=60)
        assert "cannot seal the process in place (prctl PR_SET_MM_MAP" in loud.stderr, loud.stderr
        assert "re-executing from a sealed copy" in loud.stderr
    finally:
        for cid in ids:
            cli("delete", "--force", cid)


def test_container_cannot_write_the_host_interpreter(cli: Cli, make_bundle: Any) -> None:
    """What a hostile container does (CVE-2019-5736): open /proc/<init>/exe, write it later."""
    host = host_interpreter()
    before = fingerprint(host)
    cid = new_id("cve")
    assert cli("create", "--bundle", str(make_bundle("sleep", "30")), cid).returncode == 0
    try:
        exe = f"/proc/{cli.state(cid)['pid']}/exe"
        host_st = os.stat(host)
        held = os.open(exe, os.O_RDONLY | os.O_CLOEXEC)  # what an attacker would keep
        try:
            assert (os.fstat(held).st_dev, os.fstat(held).st_ino) != (host_st.st_dev,
                                                                      host_st.st_ino)
            for path in (exe, f"/proc/self/fd/{held}"):
                if path != exe:
                    assert cli("start", cid).returncode == 0
                    wait_status(cli, cid, "running")
                with pytest.raises(OSError) as exc:
                    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                    try:
                        os.write(fd, b"\x7fELF")  # what the file begins with anyway
                    finally:
                        os.close(fd)
                assert exc.value.errno in (errno.EPERM, errno.ETXTBSY)
        finally:
            os.close(held)
    finally:
        cli("delete", "--force", cid)
    assert fingerprint(host) == before


def memfd_noexec_argv(argv: list[str]) -> list[str]:
    """argv run in a pid namespace of its own with vm.memfd_noexec = 1 there (the sysctl is
    per pid namespace: the host's stays as it is), under a /proc of that namespace."""
    if not os.path.exists("/proc/sys/vm/memfd_noexec"):
        pytest.skip("this kernel has no vm.memfd_noexec (Linux < 6.3): every memfd is executable")
    return ["unshare", "--pid", "--fork", "--mount-proc", "--", "sh", "-c",
            'echo 1 > /proc/sys/vm/memfd_noexec && [ "$(cat /proc/sys/vm/memfd_noexec)" = 1 ] '
            '&& exec "$@"', "sh", *argv]


def test_seals_where_memfds_are_noexec(cli: Cli, make_bundle: Any) -> None:
    """vm.memfd_noexec = 1 makes a memfd made without MFD_EXEC unexecutable: the one-shot
    zygote, the in-place seal, the re-exec fallback and the library's helper all make
    theirs with MFD_EXEC."""
    host = open("/proc/sys/vm/memfd_noexec").read() if os.path.exists(
        "/proc/sys/vm/memfd_noexec") else None
    bundle = str(make_bundle("echo", "noexec-ok"))
    drop = ["setpriv", "--inh-caps=-sys_admin,-sys_resource,-checkpoint_restore",
            "--bounding-set=-sys_admin,-sys_resource,-checkpoint_restore", "--"]
    done = subprocess.run(memfd_noexec_argv(cli.argv("--debug", "run", "--bundle", bundle,
                                                      new_id("nx"))),
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "noexec-ok\n"), done.stderr
    assert "re-executing" not in done.stderr
    # Without CAP_SYS_ADMIN the in-place seal is refused and the CLI re-execs from a memfd
    # copy; that copy must execute. (The container itself then cannot be cloned without
    # CAP_SYS_ADMIN: libcrun's refusal is what shows the re-exec'd interpreter got there.)
    done = subprocess.run(memfd_noexec_argv(
        drop + cli.argv("--debug", "run", "--bundle", bundle, new_id("nx"))),
        capture_output=True, text=True, timeout=60, env={**os.environ, "LXCRI_ONE_SHOT": "0"})
    assert "re-executing from a sealed copy" in done.stderr, done.stderr
    assert "clone: Operation not permitted" in done.stderr, done.stderr
    assert "Permission denied" not in done.stderr and "internal error" not in done.stderr
    library = ("import sys, lxcri\n"
               "with lxcri.Runtime(root=sys.argv[1]) as rt:\n"
               "    sys.exit(rt.run(sys.argv[2], bundle=sys.argv[3]))\n")
    done = subprocess.run(memfd_noexec_argv(
        [sys.executable, "-c", library, str(cli.root), new_id("nx"), bundle]),
        capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "noexec-ok\n"), done.stderr
    if host is not None:  # the host's setting was never touched
        assert open("/proc/sys/vm/memfd_noexec").read() == host


def test_the_command_is_the_native_launcher_on_one_isolated_interpreter(
        cli: Cli, make_bundle: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`lxcri` is a binary that starts the venv's interpreter once, with -I -S; the
    container's first process (before start, a copy of the command where the command
    seals itself) shows that argv."""
    monkeypatch.setenv("LXCRI_ONE_SHOT", "0")
    monkeypatch.delenv("LC_ALL", raising=False)
    with open(LXCRI, "rb") as f:
        assert f.read(4) == b"\x7fELF"
    cid = new_id("launch")
    assert cli("create", "--bundle", str(make_bundle("true")), cid).returncode == 0
    try:
        with open(f"/proc/{cli.state(cid)['pid']}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        assert argv[1:5] == [b"-I", b"-S", b"-X", b"utf8"], argv
        # LC_ALL=C for the interpreter's start (no LC_ALL of the caller's to keep)
        assert argv[5:7] == [b"-X", b"lxcri_lc_all"], argv
        # `make` installs the slim byte code, and the launcher then asks for -OO.
        assert argv[7:10] == [b"-OO", b"-X", b"no_debug_ranges"], argv
        # and runs lxcri._boot's slim byte code as the script, `make` having made it fresh
        tag = b"%d%d" % sys.version_info[:2]
        assert argv[10].endswith(b"/lxcri/__pycache__/_boot.cpython-%s.opt-2.pyc" % tag), argv
        assert argv[11] == os.fsencode(LXCRI), argv
    finally:
        cli("delete", "--force", cid)


@pytest.mark.parametrize("lc_all", [None, "C.UTF-8"])
def test_the_processes_lxcri_starts_get_the_callers_locale(
        cli: Cli, make_bundle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        lc_all: Any) -> None:
    """The launcher starts the interpreter with LC_ALL=C (no locale data to load) only
    where the caller set no LC_ALL, and lxcri takes it out again: a hook, which libcrun
    gives the runtime's environment, sees the caller's LANG and LC_ALL as they were."""
    monkeypatch.setenv("LANG", "C.UTF-8")
    if lc_all is None:
        monkeypatch.delenv("LC_ALL", raising=False)
    else:
        monkeypatch.setenv("LC_ALL", lc_all)
    seen = tmp_path / "env"

    def edit(spec: Dict[str, Any]) -> None:
        spec["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", f"env > {seen}"]}]}

    for one_shot in ("1", "0"):  # libcrun in the one-shot zygote, or in the command
        monkeypatch.setenv("LXCRI_ONE_SHOT", one_shot)
        done = cli("run", "--bundle", str(make_bundle("true", edit=edit)), new_id("locale"))
        assert done.returncode == 0, done.stderr
        env = dict(line.partition("=")[::2] for line in seen.read_text().splitlines())
        assert env.get("LANG") == "C.UTF-8", (one_shot, env)
        assert env.get("LC_ALL") == lc_all, (one_shot, env)


def test_help_keeps_its_docstrings_under_the_slim_byte_code() -> None:
    """The typer app makes its help of docstrings, which -OO leaves out: a command that
    goes to the app runs again without -OO, so help reads the same either way."""
    site = lxcri_package_dir()
    assert os.path.exists(os.path.join(site, "__pycache__", "__main__.cpython-%d%d.opt-2.pyc"
                                       % sys.version_info[:2]))
    done = subprocess.run([LXCRI, "create", "--help"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Create a container; its process waits for `start`." in done.stdout, done.stdout


def test_the_launcher_falls_back_to_the_console_script(tmp_path: Path) -> None:
    """Outside a self-contained venv the launcher runs `lxcri-python` beside it (pip's
    console script, on pip's interpreter), and without one it says what to do."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    launcher = bindir / "lxcri"
    launcher.write_bytes(Path(LXCRI).read_bytes())
    launcher.chmod(0o755)
    gone = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                          timeout=60)
    assert gone.returncode == 127 and gone.stdout == ""
    assert gone.stderr.count("\n") == 1 and "lxcri-python" in gone.stderr, gone.stderr
    assert "reinstall lxcri" in gone.stderr
    script = bindir / "lxcri-python"
    script.write_bytes(Path(LXCRI + "-python").read_bytes())  # its #! names the venv's python
    script.chmod(0o755)
    done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("lxcri version "), done.stderr
    # A symlink to the real launcher finds the venv it belongs to (/proc/self/exe).
    link = tmp_path / "link"
    link.symlink_to(LXCRI)
    traced = subprocess.run([str(link), "--version"], capture_output=True, text=True, timeout=60)
    assert traced.returncode == 0 and traced.stdout == subprocess.run(
        [LXCRI, "--version"], capture_output=True, text=True, timeout=60).stdout


def _launcher_in_new_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A venv of its own at tmp_path/venv, as the launcher finds one: the real venv's
    pyvenv.cfg and python3, an empty site-packages, and a copy of the launcher.
    (the launcher, site-packages)."""
    real_bin = Path(LXCRI).parent
    cfg = (real_bin.parent / "pyvenv.cfg").read_text()
    version = next(line.split("=", 1)[1].strip() for line in cfg.splitlines()
                   if line.split("=", 1)[0].strip() in ("version", "version_info"))
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    site = venv / "lib" / f"python{'.'.join(version.split('.')[:2])}" / "site-packages"
    site.mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(cfg)
    (venv / "bin" / "python3").symlink_to(real_bin / "python3")
    launcher = venv / "bin" / "lxcri"
    launcher.write_bytes(Path(LXCRI).read_bytes())
    launcher.chmod(0o755)
    return launcher, site


def test_the_launcher_leaves_a_venv_with_pth_files_to_site(tmp_path: Path) -> None:
    """A .pth file (other than setuptools' distutils-precedence.pth) may be what makes an
    installation work, and only site processing reads it: the launcher then takes the
    console script's way (here missing, so it says so) instead of -I -S."""
    launcher, site = _launcher_in_new_venv(tmp_path)
    (site / "lxcri").symlink_to(Path(lxcri_package_dir()))
    (site / "distutils-precedence.pth").write_text("")
    (site / "extra-paths.pth").write_text(f"{Path(LXCRI).parent.parent}\n")
    done = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 127 and "lxcri-python" in done.stderr, done.stderr


def launched_script(launcher: Path) -> str:
    """The script the launcher at `launcher` gives the interpreter (its execve, by strace)."""
    needs_strace()
    done = subprocess.run(["strace", "-qq", "-f", "-s", "4096", "-e", "trace=execve",
                           "-e", "signal=none", str(launcher), "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("lxcri version "), done.stderr
    interpreter = [line for line in done.stderr.splitlines() if "/python3\", [" in line]
    assert len(interpreter) == 1, done.stderr
    args = interpreter[0].split("[", 1)[1].split("]", 1)[0]
    words = [w.strip().strip('"') for w in args.split(", ")]
    return words[words.index(str(launcher)) - 1]


def test_the_launcher_runs_boots_byte_code_only_where_it_is_fresh(tmp_path: Path) -> None:
    """The launcher gives the interpreter lxcri._boot's byte code as the script where that
    pyc is timestamp-based and made from _boot.py as it is (mtime and size), for the
    venv's Python; else _launch.py, which imports _boot itself. Each case runs the
    command to its end: `--version` prints the same either way."""
    launcher, site = _launcher_in_new_venv(tmp_path)
    real_package = Path(lxcri_package_dir())
    package = site / "lxcri"
    package.mkdir()
    for entry in real_package.iterdir():  # the package's own files; its __pycache__ copied
        if entry.name not in ("_boot.py", "__pycache__"):
            (package / entry.name).symlink_to(entry)
    shutil.copy2(real_package / "_boot.py", package / "_boot.py")
    shutil.copytree(real_package / "__pycache__", package / "__pycache__")
    for dependency in real_package.parent.iterdir():
        if dependency.name != "lxcri":
            (site / dependency.name).symlink_to(dependency)
    tag = "%d%d" % sys.version_info[:2]
    pyc = package / "__pycache__" / f"_boot.cpython-{tag}.opt-2.pyc"
    launch = f"{site}/lxcri/_launch.py"

    assert os.path.normpath(launched_script(launcher)) == str(pyc)
    source = package / "_boot.py"
    stamp = source.stat()
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))  # a newer source
    assert os.path.normpath(launched_script(launcher)) == launch
    # _launch.py's import of lxcri._boot wrote its pyc anew (Python's own doing): fresh again
    assert os.path.normpath(launched_script(launcher)) == str(pyc)
    stamp = source.stat()
    with open(source, "a") as f:  # the same mtime, another size
        f.write("\n")
    os.utime(source, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert os.path.normpath(launched_script(launcher)) == launch
    assert os.path.normpath(launched_script(launcher)) == str(pyc)
    fresh = pyc.read_bytes()
    pyc.write_bytes(fresh[:4] + b"\x03\0\0\0" + fresh[8:])  # hash-based (PEP 552 flags)
    assert os.path.normpath(launched_script(launcher)) == launch
    pyc.write_bytes(fresh)
    assert os.path.normpath(launched_script(launcher)) == str(pyc)
    # A venv whose python3 is, resolved, an interpreter of another name: not known to be
    # the venv's Python, so not given byte code that another magic number would refuse.
    python3 = launcher.parent / "python3"
    python3.unlink()
    shutil.copy2(os.path.realpath(Path(LXCRI).parent / "python3"), python3)
    assert os.path.normpath(launched_script(launcher)) == launch


def test_create_and_run_import_no_os(cli: Cli, make_bundle: Any, tmp_path: Path) -> None:
    """The command line's create and run go without os (lxcri.posixos in its place: its
    import is about 1 ms of each), run as the launcher runs them (-I -S, the slim byte
    code), here with -X importtime to list what they import."""
    python = os.path.join(os.path.dirname(LXCRI), "python3")
    launch = os.path.join(lxcri_package_dir(), "_launch.py")
    bundle = str(make_bundle("true"))
    created, ran = new_id("noos"), new_id("noos")
    try:
        for words in (("create", "--bundle", bundle, created), ("run", "--bundle", bundle, ran)):
            # A file, not a pipe, for stderr: the created container keeps its copy open.
            log = tmp_path / f"{words[0]}.importtime"
            with open(log, "w") as err:
                done = subprocess.run([python, "-I", "-S", "-X", "utf8", "-OO", "-X",
                                       "no_debug_ranges", "-X", "importtime", launch, LXCRI,
                                       "--root", str(cli.root), *words], stdout=subprocess.DEVNULL,
                                      stderr=err, stdin=subprocess.DEVNULL, timeout=60)
            said = log.read_text()
            assert done.returncode == 0, said
            imported = [line.rsplit("|", 1)[-1].strip() for line in said.splitlines()
                        if line.startswith("import time:")]
            assert "lxcri.backends.crun.backend" in imported, imported  # the command's own
            assert "os" not in imported and "_collections_abc" not in imported, imported
        assert cli.state(created)["status"] == "created"
    finally:
        cli("delete", "--force", created)
        cli("delete", "--force", ran)


def test_run_passes_systemds_variables_on(cli: Cli, make_bundle: Any, tmp_path: Path) -> None:
    """As crun does, the command hands its NOTIFY_SOCKET and LISTEN_FDS to the container
    (the Runtime only takes them as options): libcrun then gives it a notify socket of
    its own and LISTEN_PID=1 with the fd."""
    import socket

    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(str(tmp_path / "notify.sock"))
    probe = ('echo "${NOTIFY_SOCKET:-no-notify} ${LISTEN_PID:-no-listen}"; '
             'if [ -e /proc/self/fd/3 ]; then echo fd3; else echo no-fd3; fi')
    bundle = str(make_bundle("sh", "-c", probe))
    plain = {k: v for k, v in os.environ.items()
             if k not in ("NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID")}
    env = {**plain, "NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "LISTEN_FDS": "1"}
    try:
        for given, want in ((env, ("/notify 1", "fd3")), (plain, ("no-notify no-listen", "no-fd3"))):
            done = subprocess.run(["sh", "-c", 'exec 3</dev/null; exec "$@"', "sh",
                                   *cli.argv("run", "--bundle", bundle, new_id("sdcli"))],
                                  env=given, capture_output=True, text=True, timeout=60,
                                  stdin=subprocess.DEVNULL)
            assert done.returncode == 0, done.stderr
            said, kept = done.stdout.splitlines()
            assert said.endswith(want[0]) and kept == want[1], done.stdout
    finally:
        host.close()


def lxcri_package_dir() -> str:
    found = subprocess.run([os.path.join(os.path.dirname(LXCRI), "python3"), "-I", "-c",
                            "import lxcri, os; print(os.path.dirname(lxcri.__file__))"],
                           capture_output=True, text=True, timeout=60, check=True)
    return found.stdout.strip()
