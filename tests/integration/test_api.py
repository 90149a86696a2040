"""The library API (lxcri.Runtime) with real containers, and the embedding guarantees:
a long-lived Python caller keeps its signal mask, subreaper flag, session keyring,
cwd, fds and children, and the host's Python is never exposed to a container."""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import pytest

import lxcri
from support import fd_inodes, new_id, state_left, zombie_children

pytestmark = [pytest.mark.integration, pytest.mark.core]

libc = ctypes.CDLL(None, use_errno=True)
PR_GET_CHILD_SUBREAPER = 37
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_SESSION_KEYRING = -3
SYS_keyctl = 250  # x86_64


def subreaper_flag() -> int:
    value = ctypes.c_int(0)
    assert libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(value), 0, 0, 0) == 0
    return value.value


def session_keyring() -> int:
    return int(libc.syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0))


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def wait_status(rt: Any, id: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if rt.state(id).status == status:
                return
        except lxcri.ContainerNotFound:
            pass  # not created yet
        assert time.monotonic() < deadline, f"{id} never became {status}"
        time.sleep(0.02)


def test_lifecycle_created_running_stopped(runtime: Any, make_bundle: Any, tmp_path: Path) -> None:
    bundle = make_bundle("sleep", "30")
    cid = new_id("api")
    pid_file = tmp_path / "pid"
    st = runtime.create(cid, str(bundle), pid_file=str(pid_file), stdout=subprocess.DEVNULL)
    assert isinstance(st, lxcri.State)
    assert (st.id, st.status, st.bundle) == (cid, "created", str(bundle))
    assert st.pid > 0 and int(pid_file.read_text()) == st.pid
    runtime.start(cid)
    assert runtime.state(cid).status == "running"
    assert [s.id for s in runtime.list()] == [cid]
    runtime.kill(cid, "SIGKILL")
    wait_status(runtime, cid, "stopped")
    runtime.delete(cid)
    with pytest.raises(lxcri.ContainerNotFound):
        runtime.state(cid)
    assert runtime.list() == []


def test_run_exit_codes_and_stdout(runtime: Any, make_bundle: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    with open(out, "w") as f:
        assert runtime.run(new_id(), str(make_bundle("true")), stdout=f) == 0
        assert runtime.run(new_id(), str(make_bundle("sh", "-c", "echo hi from $(hostname); exit 7",
                                                      hostname="api-host")), stdout=f) == 7
    assert out.read_text() == "hi from api-host\n"


def test_run_killed_by_signal_is_128_plus_n(runtime: Any, make_bundle: Any) -> None:
    cid = new_id("sig")
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "code", runtime.run(cid, str(make_bundle("sleep", "60")), stdout=subprocess.DEVNULL)))
    t.start()
    wait_status(runtime, cid, "running")
    runtime.kill(cid, 9)
    t.join(30)
    assert result == {"code": 137}


def test_delete_force_of_running_container(runtime: Any, make_bundle: Any) -> None:
    cid = new_id()
    runtime.create(cid, str(make_bundle("sleep", "60")))
    runtime.start(cid)
    pid = runtime.state(cid).pid
    with pytest.raises(lxcri.ContainerStateError):
        runtime.delete(cid)
    assert runtime.state(cid).status == "running"
    runtime.delete(cid, force=True)
    with pytest.raises(lxcri.ContainerNotFound):
        runtime.state(cid)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and not _is_zombie(pid):
        assert time.monotonic() < deadline, "the container's process survived delete --force"
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_errors_map_to_builtin_types(runtime: Any, make_bundle: Any, tmp_path: Path) -> None:
    with pytest.raises(LookupError):
        runtime.state("lxcri-test-nonexistent")
    with pytest.raises(ValueError):
        runtime.kill("lxcri-test-nonexistent", "NOSUCHSIGNAL")
    with pytest.raises(ValueError):
        runtime.run("a/b", str(make_bundle()))
    with pytest.raises(lxcri.InvalidBundle):
        runtime.run(new_id(), str(tmp_path / "missing-bundle"))
    cid = new_id()
    runtime.create(cid, str(make_bundle("sleep", "30")))
    with pytest.raises(FileExistsError) as exc:
        runtime.create(cid, str(make_bundle("true")))
    assert exc.value.errno == errno.EEXIST
    assert runtime.state(cid).status == "created"  # the first one is unharmed
    assert isinstance(exc.value, lxcri.LxcriError)


def test_caller_process_state_is_preserved(runtime: Any, make_bundle: Any, tmp_path: Path) -> None:
    os.chdir(tmp_path)
    signal.pthread_sigmask(signal.SIG_SETMASK, {signal.SIGUSR1})
    try:
        before = (signal.pthread_sigmask(signal.SIG_BLOCK, []), subreaper_flag(),
                  session_keyring(), os.getcwd())
        runtime.run(new_id(), str(make_bundle("true")))  # warm: starts the helper
        fds = open_fds()
        for _ in range(3):
            assert runtime.run(new_id(), str(make_bundle("true"))) == 0
            cid = new_id()
            runtime.create(cid, str(make_bundle("true")), stdout=subprocess.DEVNULL)
            runtime.start(cid)
            runtime.delete(cid, force=True)
        after = (signal.pthread_sigmask(signal.SIG_BLOCK, []), subreaper_flag(),
                 session_keyring(), os.getcwd())
        assert after == before
        assert open_fds() == fds
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, set())


def test_unrelated_children_are_not_reaped_or_waited_for(runtime: Any, make_bundle: Any) -> None:
    quick = subprocess.Popen(["sh", "-c", "exit 3"])
    slow = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.2)  # let `quick` exit before the container runs
        assert runtime.run(new_id(), str(make_bundle("true"))) == 0
        assert slow.poll() is None  # run() returned without waiting for it
        assert quick.wait(5) == 3  # its exit status was not stolen
    finally:
        slow.kill()
        slow.wait()


def test_created_container_holds_none_of_the_callers_fds(runtime: Any, make_bundle: Any) -> None:
    r, w = os.pipe()
    try:
        cid = new_id()
        runtime.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        os.close(w)
        w = -1
        fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)
        assert os.read(r, 1) == b""  # EOF: no other process holds the write end
        pid = runtime.state(cid).pid
        assert os.readlink(f"/proc/{pid}/exe") != os.path.realpath(sys.executable)
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_foreground_run_from_a_worker_thread(runtime: Any, make_bundle: Any) -> None:
    codes: list[int] = []
    threads = [threading.Thread(target=lambda: codes.append(runtime.run(
        new_id("thr"), str(make_bundle("sh", "-c", "exit 5"))))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert codes == [5, 5, 5]


def test_200_sequential_runs_leak_nothing(runtime: Any, make_bundle: Any) -> None:
    bundle = str(make_bundle("true"))
    assert runtime.run(new_id(), bundle) == 0
    fds = open_fds()
    for _ in range(200):
        assert runtime.run(new_id("seq"), bundle) == 0
    assert open_fds() == fds
    assert zombie_children() == []
    for parent in operation_parents(runtime._helper.pid):
        assert zombie_children(parent) == []
    assert runtime.list() == []


def test_container_cannot_reach_the_host_python(runtime: Any, make_bundle: Any) -> None:
    """CVE-2019-5736: the container's first process must not be the host's interpreter."""
    cid = new_id("cve")
    st = runtime.create(cid, str(make_bundle("sleep", "30")))
    exe = f"/proc/{st.pid}/exe"
    # Until start, the container's process is a copy of the runtime: it must run
    # from a sealed memfd, not from the Python binary on the host's disk.
    assert os.readlink(exe).startswith("/memfd:lxcri")
    host = os.stat(os.path.realpath(sys.executable))
    held = os.open(exe, os.O_RDONLY)  # what an attacker in the container would keep
    try:
        assert (os.fstat(held).st_dev, os.fstat(held).st_ino) != (host.st_dev, host.st_ino)
        runtime.start(cid)
        wait_status(runtime, cid, "running")
        # Even once the copy no longer runs, the kept handle cannot be written through.
        with pytest.raises(OSError) as exc:
            fd = os.open(f"/proc/self/fd/{held}", os.O_WRONLY)
            try:
                os.write(fd, b"\x7fELF")
            finally:
                os.close(fd)
        assert exc.value.errno in (errno.EPERM, errno.ETXTBSY)
        seals = fcntl.fcntl(held, fcntl.F_GET_SEALS)
        assert seals & fcntl.F_SEAL_WRITE
    finally:
        os.close(held)


def test_import_does_not_reexec_the_interpreter(tmp_path: Path) -> None:
    script = "print('before'); import lxcri, lxcri.backends.crun.backend; print('after')"
    # As a piped script (stdin can be read once) and as -c.
    out = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                         timeout=60)
    assert (out.returncode, out.stdout) == (0, "before\nafter\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (out.returncode, out.stdout) == (0, "before\nafter\n")


def test_unsealed_direct_backend_refuses_to_start_a_container(
        state_root: Path, make_bundle: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """isolate=False from an unsealed interpreter: the container's first process comes
    from a one-shot zygote (sealed, a process of its own); without one, refused."""
    rt = lxcri.Runtime(root=str(state_root), isolate=False)
    assert rt.run(new_id(), str(make_bundle("sh", "-c", "exit 4"))) == 4
    monkeypatch.setenv("LXCRI_ONE_SHOT", "0")
    with pytest.raises(lxcri.LxcriError, match="unsealed"):
        rt.run(new_id(), str(make_bundle("true")))
    assert state_left(state_root) == []


def helper_children(helper: int) -> list[int]:
    """Children of every thread of a process (each thread's are listed on their own)."""
    pids = []
    for tid in os.listdir(f"/proc/{helper}/task"):
        try:
            with open(f"/proc/{helper}/task/{tid}/children") as f:
                pids += [int(p) for p in f.read().split()]
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
    return pids


def zygote_of(helper: int) -> Optional[int]:
    """The helper's zygote (lxcri/isolation.py): its child running from the sealed memfd
    lxcri-zygote, or None."""
    for pid in helper_children(helper):
        try:
            if os.readlink(f"/proc/{pid}/exe").startswith("/memfd:lxcri-zygote"):
                return pid
        except OSError:
            continue
    return None


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def operation_parents(helper: int) -> list[int]:
    """The processes whose children perform operations: the zygote (crun) and the
    helper itself (the Python forks)."""
    zygote = zygote_of(helper)
    return [helper] + ([zygote] if zygote is not None else [])


def pipe_inode(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


def test_a_container_holds_no_fd_of_another_request_in_flight(runtime: Any,
                                                               make_bundle: Any) -> None:
    """The helper answers requests concurrently: a container created while another
    request's fds are open in the helper must not get them (a kept pipe end would
    stop that caller from ever seeing EOF)."""
    r, w = os.pipe()
    busy = new_id("busy")
    done: list[int] = []
    worker = threading.Thread(target=lambda: done.append(runtime.run(
        busy, str(make_bundle("sleep", "3")), stdout=w, stderr=subprocess.DEVNULL)))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while busy not in {s.id for s in runtime.list()}:
            assert time.monotonic() < deadline, "the foreground run never showed up"
            time.sleep(0.02)
        cid = new_id("quiet")
        runtime.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        assert pipe_inode(w) not in fd_inodes(runtime.state(cid).pid)
        os.close(w)
        w = -1
        worker.join(30)
        assert done == [0]
        fcntl.fcntl(r, fcntl.F_SETFL, os.O_NONBLOCK)
        assert os.read(r, 1) == b""  # nobody else holds the write end
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
        worker.join(30)


def test_an_operation_process_that_dies_is_reported(runtime: Any, make_bundle: Any) -> None:
    """The helper forks a process per operation; if it dies (here: SIGKILL from outside)
    the call fails with HelperError instead of hanging, and the helper keeps serving."""
    bundle = str(make_bundle("true"))
    assert runtime.run(new_id(), bundle) == 0  # the helper is up
    helper = runtime._helper.pid
    parents = operation_parents(helper)
    assert len(parents) == 2, "the helper has no zygote"
    before = {pid for parent in parents for pid in helper_children(parent)}
    cid = new_id("victim")
    failure: list[BaseException] = []

    def run() -> None:
        try:
            runtime.run(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL)
        except BaseException as exc:  # noqa: BLE001 - what the test looks at
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        deadline = time.monotonic() + 20
        op = None
        while op is None:
            assert time.monotonic() < deadline, "no operation process appeared"
            # The operation process is the zygote's child whose child is the container.
            for pid in {p for parent in parents for p in helper_children(parent)} - before:
                try:
                    if helper_children(pid):
                        op = pid
                except FileNotFoundError:
                    pass
            time.sleep(0.02)
        os.kill(op, signal.SIGKILL)
        worker.join(30)
        assert not worker.is_alive()
        assert len(failure) == 1 and isinstance(failure[0], lxcri.errors.HelperError), failure
        assert "operation process died (killed by signal 9)" in str(failure[0])
    finally:
        worker.join(30)
        runtime.delete(cid, force=True)
    assert runtime.run(new_id(), bundle) == 0  # still serving


def concurrent_runs(rt: Any, make_bundle: Any, out_dir: Path, count: int,
                    tag: str) -> dict[int, tuple[int, bytes]]:
    """`count` threads each run `echo N; exit N` through rt, stdout to a file of its own:
    {N: (exit code, stdout)}."""
    results: dict[int, tuple[int, bytes]] = {}

    def one(n: int) -> None:
        out = out_dir / f"{tag}{n}"
        with open(out, "wb") as f:
            code = rt.run(new_id(tag), str(make_bundle("sh", "-c", f"echo {n}; exit {n}")),
                          stdout=f)
        results[n] = (code, out.read_bytes())

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, count + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_concurrent_runs_keep_their_own_stdio_and_codes(runtime: Any, make_bundle: Any,
                                                        tmp_path: Path) -> None:
    results = concurrent_runs(runtime, make_bundle, tmp_path, 8, "par")
    assert results == {n: (n, f"{n}\n".encode()) for n in range(1, 9)}
    assert zombie_children(runtime._helper.pid) == []


def test_concurrent_runs_race_the_bookkeeping_directories(runtime: Any, make_bundle: Any) -> None:
    """Each run claims an ownership record and releases it, and the last release removes
    the (then empty) record directories: 8 threads doing that at once must never trip
    over a directory another one is creating or removing."""
    bundle = str(make_bundle("true"))
    failures: list[BaseException] = []

    def worker() -> None:
        for _ in range(15):
            try:
                runtime.run(new_id("race"), bundle)
            except BaseException as exc:  # noqa: BLE001 - what the test looks at
                failures.append(exc)
                return

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert failures == []
    assert runtime.list() == []


def test_the_zygote_runs_the_crun_operations(runtime: Any, make_bundle: Any,
                                             tmp_path: Path) -> None:
    """crun operations run in children of the zygote, a sealed C process of its own
    (launcher/zygote.c); a created container's init is its child from then on, and the
    container's program inherits no ignored or blocked signal of it."""
    cid = new_id("zyg")
    out = tmp_path / "masks"
    with open(out, "wb") as f:
        st = runtime.create(cid, str(make_bundle("sh", "-c", "grep -E '^Sig(Ign|Blk)' "
                                                 "/proc/self/status; sleep 30")),
                            stdout=f, stderr=subprocess.DEVNULL)
    try:
        zygote = zygote_of(runtime._helper.pid)
        assert zygote is not None
        fd = os.open(f"/proc/{zygote}/exe", os.O_RDONLY | os.O_CLOEXEC)
        try:
            assert fcntl.fcntl(fd, fcntl.F_GET_SEALS) & fcntl.F_SEAL_WRITE
        finally:
            os.close(fd)
        # The operation child that made it exits right after it answered.
        deadline = time.monotonic() + 10
        while parent_of(st.pid) != zygote:
            assert time.monotonic() < deadline, f"{st.pid}'s parent is not the zygote"
            time.sleep(0.01)
        runtime.start(cid)
        while out.read_text().count("\n") < 2:
            assert time.monotonic() < deadline + 10, out.read_text()
            time.sleep(0.01)
        masks = dict(line.split(":\t") for line in out.read_text().splitlines())
        assert masks == {"SigBlk": "0" * 16, "SigIgn": "0" * 16}, masks
    finally:
        runtime.delete(cid, force=True)


def test_run_keep_waits_for_an_init_the_zygote_reaps(runtime: Any, make_bundle: Any) -> None:
    """run(keep=True): the init is the zygote's child once create returns; its exit
    status reaches the helper as an event (several at once, none confused)."""
    codes: dict[int, int] = {}

    def one(n: int) -> None:
        cid = new_id("keep")
        codes[n] = runtime.run(cid, str(make_bundle("sh", "-c", f"sleep 0.{n}; exit {n}")),
                               keep=True)
        runtime.delete(cid, force=True)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert codes == {n: n for n in range(1, 5)}


def test_python_fork_of_the_helper_when_asked(state_root: Path, make_bundle: Any,
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """LXCRI_HELPER_FORK=python (see lxcri/isolation.py): no zygote, crun operations run in
    Python forks of the helper; codes, stdio and clean-up hold."""
    monkeypatch.setenv("LXCRI_HELPER_FORK", "python")
    rt = lxcri.Runtime(root=str(state_root))
    try:
        results = concurrent_runs(rt, make_bundle, tmp_path, 4, "pyfork")
        assert results == {n: (n, f"{n}\n".encode()) for n in range(1, 5)}
        assert zygote_of(rt._helper.pid) is None
        cid = new_id("pyfork")
        rt.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL)
        rt.start(cid)
        rt.delete(cid, force=True)
        assert rt.run(new_id("pyfork"), str(make_bundle("sh", "-c", "exit 3")), keep=True) == 3
        assert rt.list() and all(s.status == "stopped" for s in rt.list())
        for s in rt.list():
            rt.delete(s.id, force=True)
        assert rt.list() == []
    finally:
        rt.close()


def helper_threads(helper: int) -> int:
    return len(os.listdir(f"/proc/{helper}/task"))


def test_create_run_and_exec_go_to_the_zygote_from_the_callers_process(
        runtime: Any, make_bundle: Any) -> None:
    """The Runtime hands crun's create, run and exec to the helper's zygote itself (the
    helper starts no worker thread for them) without loading libcrun in this process;
    run(keep=True), whose exit status only the helper learns, still goes through it."""
    bundle = str(make_bundle("true"))
    assert runtime.run(new_id("direct"), bundle) == 0
    helper = runtime._helper.pid
    assert zygote_of(helper) is not None
    assert helper_threads(helper) == 1  # no worker thread: nothing went through the helper
    cid = new_id("direct")
    runtime.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    try:
        assert helper_threads(helper) == 1
        runtime.start(cid)  # the helper's (a worker thread from now on)
        wait_status(runtime, cid, "running")
        assert runtime.exec(cid, args=["sh", "-c", "exit 4"]) == 4
    finally:
        runtime.delete(cid, force=True)
    done = subprocess.run([sys.executable, "-c", (
        "import sys, lxcri\n"
        f"rt = lxcri.Runtime(root={str(runtime.root)!r})\n"
        f"code = rt.run({new_id('direct')!r}, {bundle!r})\n"
        "rt.close()\n"
        "print(code, 'lxcri._crun' in sys.modules)\n")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.stdout.split() == ["0", "False"], done.stderr
    kept = new_id("direct")
    assert runtime.run(kept, str(make_bundle("sh", "-c", "exit 3")), keep=True) == 3
    runtime.delete(kept, force=True)
    assert helper_threads(helper) > 1  # that one did


def test_a_zygote_that_died_is_started_again(runtime: Any, make_bundle: Any) -> None:
    """The Runtime's share of the zygote's socket fails once the zygote is gone: the
    operation then goes through the helper, which starts a new zygote for it; the
    caller does not die of SIGPIPE even with its default action, nothing of the first
    attempt is left, and later operations go straight to the new zygote again."""
    import socket

    bundle = str(make_bundle("sh", "-c", "exit 6"))
    assert runtime.run(new_id("zdead"), bundle) == 6
    helper = runtime._helper
    zygote = zygote_of(helper.pid)
    assert zygote is not None
    old = signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        for _ in range(2):  # and the new one, once more
            os.kill(zygote, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while zygote_of(helper.pid) is not None:
                assert time.monotonic() < deadline, "the helper did not reap its zygote"
                time.sleep(0.02)
            assert runtime.run(new_id("zdead"), bundle) == 6
            revived = zygote_of(helper.pid)
            assert revived is not None and revived != zygote
            zygote = revived
            cid = new_id("zdead")
            runtime.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            runtime.start(cid)
            runtime.delete(cid, force=True)
            assert runtime.run(new_id("zdead"), bundle) == 6
            assert isinstance(helper._zygote, socket.socket)  # the share again: direct
            assert zygote_of(helper.pid) == zygote
    finally:
        signal.signal(signal.SIGPIPE, old)
    assert runtime.list() == []


# libcrun sets LISTEN_PID=1 in a container that keeps systemd's sockets (LISTEN_FDS is the
# config's to set) and NOTIFY_SOCKET to its own socket, which passes READY=1 on.
SYSTEMD_PROBE = ('echo "${NOTIFY_SOCKET:-no-notify} ${LISTEN_PID:-no-listen}"; '
                 'if [ -e /proc/self/fd/3 ]; then echo fd3; else echo no-fd3; fi')


@pytest.mark.parametrize("backend", ["crun", "runc"])
def test_the_callers_systemd_variables_are_not_the_containers(
        runtime: Any, make_bundle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        backend: str) -> None:
    """A program embedding lxcri may be a systemd service: its NOTIFY_SOCKET and LISTEN_FDS
    are its own, and a container gets them only as options (the lxcri command passes
    its environment's, as crun does)."""
    import socket

    host = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    host.bind(str(tmp_path / "notify.sock"))
    spare = -1
    try:
        try:
            os.fstat(3)
        except OSError:  # the fd a listen_fds=1 keeps: any open file will do
            spare = os.open("/dev/null", os.O_RDONLY)
            if spare != 3:
                os.dup2(spare, 3, inheritable=False)
                os.close(spare)
                spare = 3
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify.sock"))
        monkeypatch.setenv("LISTEN_FDS", "1")
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
        bundle = str(make_bundle("sh", "-c", SYSTEMD_PROBE))
        out = tmp_path / "out"
        with open(out, "w") as f:
            assert runtime.run(new_id("sdenv"), bundle, stdout=f, runtime=backend) == 0
        assert out.read_text() == "no-notify no-listen\nno-fd3\n"
        if backend == "crun":  # runc keeps them only with its own pid in LISTEN_PID
            with open(out, "w") as f:
                assert runtime.run(new_id("sdenv"), bundle, stdout=f, runtime=backend,
                                   listen_fds=1, notify_socket=str(tmp_path / "notify.sock")) == 0
            said, kept = out.read_text().splitlines()
            assert said.endswith(" 1") and not said.startswith("no-notify"), said
            assert kept == "fd3"
    finally:
        host.close()
        if spare >= 0:
            os.close(spare)


@pytest.mark.parametrize("forks", ["zygote", "python"])
def test_ready_goes_to_the_notify_socket_the_options_name(
        state_root: Path, make_bundle: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        forks: str) -> None:
    """libcrun passes a container's READY=1 on with sd_notify(), to $NOTIFY_SOCKET of the
    process it runs in: start's notify_socket is where it goes, not the caller's own
    NOTIFY_SOCKET, whether the zygote or a Python fork of the helper performs it. (READY=1
    is sent here to libcrun's end of the container's socket, as a service in it would.)"""
    import array
    import socket

    class Receiver:
        """An sd_notify socket that answers as systemd does: it reads each message and
        closes the fds that come with it (libcrun's BARRIER=1 waits for that)."""

        def __init__(self, name: str) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self.sock.bind(str(tmp_path / name))
            self.sock.settimeout(0.05)
            self.said: list[bytes] = []
            self.done = threading.Event()
            self.thread = threading.Thread(target=self.serve, daemon=True)
            self.thread.start()

        def serve(self) -> None:
            fds = array.array("i")
            while not self.done.is_set():
                try:
                    data, ancillary, _, _ = self.sock.recvmsg(256, socket.CMSG_SPACE(16))
                except socket.timeout:
                    continue
                for level, kind, payload in ancillary:
                    if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                        fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
                        for fd in fds:
                            os.close(fd)
                        del fds[:]
                self.said.append(data)

        def close(self) -> None:
            self.done.set()
            self.thread.join()
            self.sock.close()

    mine, callers = Receiver("options.sock"), Receiver("callers.sock")
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "callers.sock"))
    if forks == "python":
        monkeypatch.setenv("LXCRI_HELPER_FORK", "python")
    rt = lxcri.Runtime(root=str(state_root))
    try:
        cid = new_id("ready")
        rt.create(cid, str(make_bundle("sleep", "30")), stdout=subprocess.DEVNULL,
                  stderr=subprocess.DEVNULL, notify_socket=str(tmp_path / "options.sock"))
        assert (zygote_of(rt._helper.pid) is None) == (forks == "python")
        failed: list[BaseException] = []

        def start() -> None:
            try:
                rt.start(cid, notify_socket=str(tmp_path / "options.sock"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                failed.append(exc)

        starting = threading.Thread(target=start)
        starting.start()
        proxy = str(state_root / cid / "notify" / "notify")  # libcrun's end, bound by start
        sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            deadline = time.monotonic() + 10
            while starting.is_alive():
                assert time.monotonic() < deadline, "start did not take READY=1"
                try:
                    sender.sendto(b"READY=1", proxy)
                except OSError:
                    pass  # not bound yet
                starting.join(0.05)
        finally:
            sender.close()
        assert not failed, failed
        assert rt.state(cid).status == "running"
        rt.delete(cid, force=True)
    finally:
        rt.close()
        mine.close()
        callers.close()
    assert b"READY=1" in mine.said, mine.said
    assert callers.said == []
