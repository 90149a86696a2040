"""Logic of lxcri.runtime, lxcri.state and lxcri.isolation that needs no container."""
from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

import lxcri
from lxcri import errors
from lxcri.isolation import _decode_error, _encode_error
from lxcri.runtime import parse_signal
from lxcri.state import State


@pytest.mark.parametrize("text, num", [
    ("TERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL), ("kill", signal.SIGKILL),
    ("9", 9), (15, 15), ("HUP", signal.SIGHUP), ("RTMIN+2", signal.SIGRTMIN + 2),
    ("SIGRTMAX-1", signal.SIGRTMAX - 1),
])
def test_parse_signal(text: object, num: int) -> None:
    assert parse_signal(text) == int(num)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["NOSUCH", "0", "65", "-1", "", "RTMIN+99", "SIG"])
def test_parse_signal_rejects(text: str) -> None:
    with pytest.raises(lxcri.InvalidArgument, match="unknown signal"):
        parse_signal(text)


def test_state_round_trip() -> None:
    doc = {"ociVersion": "1.0.0", "id": "a", "pid": 42, "status": "running", "bundle": "/b",
           "rootfs": "/b/rootfs", "created": "2026-01-01T00:00:00Z", "owner": "",
           "annotations": {"k": "v"}}
    st = State.from_dict(doc)
    assert (st.id, st.pid, st.status, st.annotations) == ("a", 42, "running", {"k": "v"})
    assert st.to_dict() == doc


@pytest.mark.parametrize("exc", [
    errors.ContainerNotFound("nf", errno=2, container_id="x"),
    errors.ContainerExists("dup", errno=17, container_id="x"),
    errors.InvalidBundle("bad bundle"),
    errors.ContainerStateError("running", container_id="y"),
    errors.CgroupError("hybrid"),
])
def test_errors_cross_the_helper_boundary_intact(exc: errors.LxcriError) -> None:
    back = _decode_error(_encode_error(exc))
    assert type(back) is type(exc)
    assert (back.message, back.errno, back.container_id) == (exc.message, exc.errno, exc.container_id)


def test_foreign_exceptions_become_internal_errors() -> None:
    back = _decode_error(_encode_error(KeyError("boom")))
    assert type(back) is errors.LxcriError and "internal error: KeyError" in back.message


def test_builtin_bases() -> None:
    assert issubclass(lxcri.ContainerNotFound, LookupError)
    assert issubclass(lxcri.ContainerExists, FileExistsError)
    assert issubclass(lxcri.InvalidBundle, ValueError)
    assert str(lxcri.ContainerExists("x exists", errno=17)) == "x exists"


def test_an_ordinary_interpreter_is_not_sealed_and_a_sealed_copy_is() -> None:
    import subprocess

    from lxcri import sealed

    assert not sealed.is_sealed()
    fd = sealed.sealed_executable_fd()
    assert sealed.sealed_executable_fd() == fd  # made once, reused
    argv, env = sealed.sealed_python_argv(
        "from lxcri import sealed; print(sealed.is_sealed())", [])
    out = subprocess.run(argv, executable=f"/proc/self/fd/{fd}", pass_fds=(fd,), env=env,
                         capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "True\n"), out.stderr



def test_seals_are_tested_as_a_mask() -> None:
    """A copy with more than the four seals (runc adds F_SEAL_EXEC) counts as sealed too."""
    import fcntl
    import os
    import subprocess

    from lxcri import sealed

    f_seal_exec = getattr(fcntl, "F_SEAL_EXEC", 0x20)  # Python 3.12+ names it
    memfd = os.memfd_create("lxcri-mask", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        with open("/proc/self/exe", "rb") as src:
            os.write(memfd, src.read())
        fcntl.fcntl(memfd, fcntl.F_ADD_SEALS, sealed._SEALS | f_seal_exec)
        seals = fcntl.fcntl(memfd, fcntl.F_GET_SEALS)
        assert seals & f_seal_exec and seals != sealed._SEALS
        argv, env = sealed.sealed_python_argv(
            "from lxcri import sealed; print(sealed.is_sealed())", [])
        out = subprocess.run(argv, executable=f"/proc/self/fd/{memfd}", pass_fds=(memfd,),
                             env=env, capture_output=True, text=True, timeout=60)
        assert (out.returncode, out.stdout) == (0, "True\n"), out.stderr
    finally:
        os.close(memfd)


def test_parse_signal_table_agrees_with_the_signal_module() -> None:
    """lxcri's own table (no `signal` import on the CLI's path) against Python's."""
    for sig in signal.Signals:
        assert parse_signal(sig.name) == sig.value, sig.name
        assert parse_signal(sig.name[3:].lower()) == sig.value, sig.name
    for n in range(signal.SIGRTMAX - signal.SIGRTMIN + 1):
        assert parse_signal(f"RTMIN+{n}") == signal.SIGRTMIN + n
        assert parse_signal(f"SIGRTMAX-{n}") == signal.SIGRTMAX - n
    for bad in ("RTMIN+31", "RTMAX+1", "RTMIN1", "SIGFOO", "0", "65"):
        with pytest.raises(errors.InvalidArgument):
            parse_signal(bad)


@pytest.mark.parametrize("keywords, message", [
    ({"listen_fds": -1}, "invalid listen_fds -1"),
    ({"listen_fds": True}, "invalid listen_fds True"),
    ({"preserve_fds": "2"}, "invalid --preserve-fds '2'"),
    ({"notify_socket": ""}, "invalid notify_socket ''"),
    ({"notify_socket": 3}, "invalid notify_socket 3"),
    ({"notify_socket": "/run/a\0b"}, "invalid notify_socket"),
])
def test_systemds_options_are_checked_before_anything_is_done(tmp_path: Path, keywords: dict,
                                                               message: str) -> None:
    rt = lxcri.Runtime(str(tmp_path / "root"), isolate=False)
    for call in (rt.run, rt.create):
        with pytest.raises(lxcri.InvalidArgument, match=re.escape(message)):
            call("c1", str(tmp_path), **keywords)
    if "notify_socket" in keywords:
        with pytest.raises(lxcri.InvalidArgument, match=re.escape(message)):
            rt.start("c1", notify_socket=keywords["notify_socket"])
    assert not (tmp_path / "root").exists() or not any((tmp_path / "root").iterdir())
