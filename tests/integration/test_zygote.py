"""The library helper's zygote (launcher/zygote.c) on its own: a real zygote, started as
the helper starts it (lxcri.isolation._Zygote.start), driven over its socket with the
requests the helper packs (lxcri.isolation._zygote_request), bad ones included.

What the zygote must do with a request it cannot use: answer it on its result pipe with
one record saying so, close every fd it got, and keep serving; at EOF, exit 0."""
from __future__ import annotations

import errno
import os
import select
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest

from lxcri import isolation
from lxcri.backends.crun import zygote as protocol
from lxcri.errors import InvalidConfig
from support import Cli, fd_inodes, new_id

pytestmark = pytest.mark.core


@pytest.fixture
def zygote() -> Iterator[isolation._Zygote]:
    z = isolation._Zygote.start()
    if z is None:
        pytest.skip("this build of lxcri has no zygote (lxcri/lxcri-zygote, lxcri/_zygote.so)")
    try:
        yield z
    finally:
        z.sock.close()
        _wait_exit(z.pid)


def _wait_exit(pid: int) -> int:
    """The zygote is this process's child here (Popen made it): its exit status."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _ask(z: isolation._Zygote, request: bytes, fds: List[int]) -> Tuple[int, int, str, str]:
    """Send request with a fresh result pipe before fds; the record that comes back."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        socket.send_fds(z.sock, [request], [w, *fds])
        os.close(w)
        w = -1
        ready, _, _ = select.select([r], [], [], 30)
        assert ready, "the zygote did not answer"
        return protocol.read_result(r)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def _request(kind: int, id: str, root: str) -> bytes:
    """A request as the helper packs it."""
    return protocol.request(protocol.Operation(kind, protocol.Context(root, id)), None, "text",
                            False, False)


def test_an_operation_on_a_missing_container_is_libcruns_error(
        zygote: isolation._Zygote, tmp_path: Path) -> None:
    ret, status, msg, _ = _ask(zygote, _request(protocol.START, "zyg-missing",
                                                str(tmp_path)), [0, 1, 2])
    assert ret < 0
    assert status == errno.ENOENT, (status, msg)
    assert "zyg-missing" in msg or "No such file" in msg


@pytest.mark.parametrize("mangle", [
    lambda b: b"",                                        # nothing
    lambda b: b[:10],                                     # a cut header
    lambda b: struct.pack("=I", 0xDEADBEEF) + b[4:],      # another magic
    lambda b: b[:-1],                                     # a string one byte short
    lambda b: b + b"x",                                   # a byte too many
    lambda b: b[:28] + struct.pack("=I", 1 << 30) + b[32:],  # a length past the end
])
def test_a_malformed_request_gets_a_clean_refusal(zygote: isolation._Zygote, tmp_path: Path,
                                                  mangle: object) -> None:
    good = _request(protocol.START, "zyg-bad", str(tmp_path))
    bad = mangle(good)  # type: ignore[operator]
    marker_r, marker_w = os.pipe2(os.O_CLOEXEC)
    try:
        ret, status, msg, _ = _ask(zygote, bad, [marker_w, 1, 2])
        assert (ret, status) == (-1, errno.EINVAL), msg
        assert "malformed request" in msg
        # Every fd it got is closed again (right after it answered): the marker pipe's
        # write end is ours alone.
        marker = (os.fstat(marker_w).st_dev, os.fstat(marker_w).st_ino)
        deadline = time.monotonic() + 10
        while marker in fd_inodes(zygote.pid):
            assert time.monotonic() < deadline, "the zygote kept an fd of a refused request"
            time.sleep(0.01)
        # And it still serves.
        ret, status, _, _ = _ask(zygote, good, [0, 1, 2])
        assert status == errno.ENOENT
    finally:
        os.close(marker_r)
        os.close(marker_w)


def test_too_few_fds_are_refused(zygote: isolation._Zygote, tmp_path: Path) -> None:
    ret, status, msg, _ = _ask(zygote, _request(protocol.START, "zyg-fds", str(tmp_path)),
                               [1])
    assert (ret, status) == (-1, errno.EINVAL) and "malformed request" in msg


def test_eof_ends_it_with_status_0() -> None:
    z = isolation._Zygote.start()
    if z is None:
        pytest.skip("this build of lxcri has no zygote")
    z.sock.close()
    assert _wait_exit(z.pid) == 0


def test_it_holds_only_its_socket_and_signalfd(zygote: isolation._Zygote) -> None:
    """Beyond stdio: no fd of whoever started it (this test's), not the memfd it ran from."""
    held = {}
    for name in os.listdir(f"/proc/{zygote.pid}/fd"):
        if int(name) > 2:
            try:
                held[int(name)] = os.readlink(f"/proc/{zygote.pid}/fd/{name}")
            except FileNotFoundError:
                continue
    assert sorted(v.split(":")[0] for v in held.values()) == ["anon_inode", "socket"], held
    assert any(v == "anon_inode:[signalfd]" for v in held.values()), held


def test_a_zygote_that_does_not_come_up_leaves_the_python_forks(
        tmp_path: Path, make_bundle: object, state_root: Path) -> None:
    """A copy of the installed package whose _zygote.so is broken: the helper says so on
    stderr, once, with the loader's reason, and runs the container in a Python fork of
    itself."""
    import shutil
    import subprocess
    import sys

    import lxcri

    installed = Path(lxcri.__file__).parent
    copy = tmp_path / "pkg"
    shutil.copytree(installed, copy / "lxcri", ignore=shutil.ignore_patterns("__pycache__"))
    libs = installed.parent / "lxcri.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / "lxcri.libs")
    (copy / "lxcri" / "_zygote.so").write_bytes(b"not an ELF file")
    bundle = make_bundle("sh", "-c", "exit 5")  # type: ignore[operator]
    script = ("import subprocess, sys, lxcri\n"
              "rt = lxcri.Runtime(root=sys.argv[1])\n"
              "try:\n"
              "    print(rt.run(sys.argv[2], sys.argv[3], stdout=subprocess.DEVNULL),"
              " lxcri.__file__)\n"
              "finally:\n"
              "    rt.close()\n")
    done = subprocess.run([sys.executable, "-c", script, str(state_root), "zyg-broken",
                           str(bundle)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(copy)}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"5 {copy / 'lxcri' / '__init__.py'}\n"
    # One line: the loader's reason (what it could not load) comes to the helper.
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"lxcri: the zygote did not come up ({copy / 'lxcri' / '_zygote.so'}: ")
    assert lines[0].endswith("); operations run in forks of the helper"), done.stderr


def test_the_protocol_constants_are_the_c_headers() -> None:
    """lxcri.backends.crun.zygote spells LXCRI_OP_* in Python, so that a command whose
    libcrun call runs in the zygote never loads the binding: they must stay the C's."""
    from lxcri.backends.crun.binding import lib

    for name in ("RUN", "CREATE", "EXEC", "START", "DELETE", "PAUSE", "UNPAUSE", "UPDATE",
                 "DIED", "BAD_CONFIG"):
        python = getattr(protocol, name if hasattr(protocol, name) else f"OP_{name}")
        assert python == getattr(lib, f"LXCRI_OP_{name}"), name


@pytest.mark.parametrize("config, says", [
    ("{not json", ""),
    ('{"ociVersion": "1.0.2", "root": {"path": "rootfs"}}', "process: missing"),
    ('{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "process": {"cwd": "/", "args": []}}',
     "process.args: missing or empty"),
])
def test_a_config_the_zygote_refuses_is_an_invalid_config(state_root: Path, tmp_path: Path,
                                                          config: str, says: str) -> None:
    """The CLI's backend hands create to a one-shot zygote without loading config.json
    itself: the zygote's BAD_CONFIG comes back as the InvalidConfig its own load raised,
    naming the file, and nothing of the container is left."""
    from lxcri.backends.crun.backend import CrunBackend
    from lxcri.options import CreateOptions

    if not protocol.one_shot_usable():
        pytest.skip("this build of lxcri has no zygote")
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text(config)
    id = new_id("zygcfg")
    backend = CrunBackend(str(state_root))
    with pytest.raises(InvalidConfig) as raised:
        backend.create(id, CreateOptions(str(bundle), str(bundle / "config.json")))
    assert raised.value.message.startswith(f"{bundle / 'config.json'}: "), raised.value.message
    assert says in raised.value.message
    assert "\n" not in raised.value.message
    assert not (state_root / id).exists()


def _site_with_zygote() -> str:
    """The site-packages holding the lxcri under test; skips where it has no zygote."""
    import lxcri

    if not protocol.one_shot_usable():
        pytest.skip("this build of lxcri has no zygote")
    return str(Path(lxcri.__file__).parents[1])


def _stderr_of(code: str, *args: str, env: "Dict[str, str] | None" = None) -> str:
    """What `python -I -S -c code ARGS` wrote to stderr. Files, not pipes: a created
    container keeps the command's stdio open."""
    with tempfile.TemporaryFile("w+") as err:
        subprocess.run([sys.executable, "-I", "-S", "-c", code, *args], stdout=subprocess.DEVNULL,
                       stderr=err, timeout=60, stdin=subprocess.DEVNULL, env=env)
        err.seek(0)
        return err.read()


def test_the_clis_create_and_run_do_not_load_libcrun(state_root: Path, make_bundle: Any) -> None:
    """Their libcrun call runs in the one-shot zygote, so the command itself never loads
    lxcri._crun (2.5 ms and 2 MiB of its peak RSS); sealing itself instead
    (LXCRI_ONE_SHOT=0) it does, which shows the check can fail."""
    site = _site_with_zygote()
    code = ("import sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "from lxcri.__main__ import main\n"
            "code = main(sys.argv[2:])\n"
            "print(code, 'lxcri._crun' in sys.modules, file=sys.stderr)\n")
    bundle = str(make_bundle("true"))

    def loaded(verb: str, **env: str) -> bool:
        id = new_id("zygload")
        said = _stderr_of(code, site, "--root", str(state_root), verb, "--bundle", bundle, id,
                          env={**os.environ, **env})
        code_, found = said.strip().splitlines()[-1].split()
        assert code_ == "0", said
        if verb == "create":
            assert Cli(state_root).state(id)["status"] == "created"
        return found == "True"

    assert not loaded("run")
    assert not loaded("create")
    assert loaded("run", LXCRI_ONE_SHOT="0")


def test_an_early_zygote_nobody_took_is_killed_and_reaped() -> None:
    """start_early's zygote (the CLI's one-shot zygote, started before the checks) is
    ended by pid and reaped by end_early: no child and no zombie is left."""
    if not protocol.one_shot_usable():
        pytest.skip("this build of lxcri has no zygote")
    protocol.start_early()
    try:
        assert protocol._early is not None
        pid, _ = protocol._early
        assert os.readlink(f"/proc/{pid}/exe").startswith("/memfd:lxcri-zygote")
    finally:
        protocol.end_early()
    assert protocol._early is None
    assert not os.path.exists(f"/proc/{pid}")  # reaped, not a zombie


def test_the_command_lines_create_uses_its_early_zygote_or_ends_it(
        state_root: Path, make_bundle: Any) -> None:
    """`lxcri create` (main() of a real command line) starts its one-shot zygote before
    it checks the bundle: a create then runs in that zygote (one spawn in all), and a
    create refused by the checks ends it; either way the command leaves no child."""
    site = _site_with_zygote()
    code = ("import os, sys\n"
            "sys.path.insert(0, sys.argv[1])\n"
            "sys.argv = ['lxcri', *sys.argv[2:]]\n"
            "from lxcri.backends.crun import zygote\n"
            "spawned = []\n"
            "real = zygote.spawn\n"
            "def counting(one_shot):\n"
            "    spawned.append(one_shot)\n"
            "    return real(one_shot)\n"
            "zygote.spawn = counting\n"
            "from lxcri.__main__ import main\n"
            "code = main()\n"
            "kids = open(f'/proc/self/task/{os.getpid()}/children').read().split()\n"
            "print(code, len(spawned), len(kids), file=sys.stderr)\n")

    def create(bundle: str) -> List[str]:
        said = _stderr_of(code, site, "--root", str(state_root), "create", "--bundle", bundle,
                          new_id("zygearly"))
        return said.strip().splitlines()[-1].split()

    assert create(str(make_bundle("true"))) == ["0", "1", "0"]
    assert create(str(state_root / "no-such-bundle")) == ["1", "1", "0"]
