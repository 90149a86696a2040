"""The vm backend end to end: real QEMU microvms (TCG here; KVM where the CPU has it).

Each test boots real VMs through the installed `lxcri` (5-20 s a boot on this 2-CPU host,
hence the generous timeouts); tests that need a running container share one VM for
several checks. After every test the `vm_cli` fixture asserts that nothing is left: no
QEMU or monitor process of the test's containers, no state directory, socket, mount or
memory cgroup. Container ids start with `vmt-`. Marked core: a skip (QEMU or the guest
files missing) fails under CI=true.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List

import pytest

from support import LXCRI, Cli, mounts_under, needs_root

pytestmark = [pytest.mark.integration, pytest.mark.core, pytest.mark.host_only]

BOOT = 180  # seconds a command that boots a VM may take here (a boot takes 5-20 s)
MIB = 1 << 20


def vm_id(tag: str) -> str:
    return f"vmt-{tag}-{uuid.uuid4().hex[:8]}"


def qemu_of(id: str) -> List[int]:
    """Host processes whose command line names container `id`'s VM (QEMU runs as
    `-name lxcri-vm-<id>`)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if f"lxcri-vm-{id}".encode() in argv:
            found.append(int(entry))
    return found


def vm_cgroups(id: str) -> List[str]:
    return [p for p in (f"/sys/fs/cgroup/memory/lxcri-vm/{id}",
                        f"/sys/fs/cgroup/unified/lxcri-vm/{id}", f"/sys/fs/cgroup/lxcri-vm/{id}")
            if os.path.exists(p)]


class VmCli(Cli):
    """The lxcri command with --runtime vm, remembering every id it was given."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "vm")
        self.ids: List[str] = []

    def __call__(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        self.ids += [a for a in args if a.startswith("vmt-")]
        kw.setdefault("timeout", BOOT)
        return super().__call__(*args, **kw)

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        self.ids += [a for a in args if a.startswith("vmt-")]
        return subprocess.Popen(self.argv(*args), text=True, **kw)

    def wait_status(self, id: str, status: str, timeout: float = BOOT) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            proc = self("state", id)
            if proc.returncode == 0:
                state = dict(json.loads(proc.stdout))
                if state["status"] == status:
                    return state
            assert time.monotonic() < deadline, f"{id} not {status}: {proc.stdout}{proc.stderr}"
            time.sleep(0.2)


def _vm_available() -> None:
    needs_root()
    from lxcri.backends.vm import availability

    ok, why = availability({})
    if not ok:
        pytest.skip(f"the vm backend is unavailable: {why}")


@pytest.fixture
def vm_cli(state_root: Path, tmp_path: Path) -> Iterator[VmCli]:
    _vm_available()
    cli = VmCli(state_root)
    yield cli
    problems = []
    for id in sorted(set(cli.ids)):
        if cli("state", id).returncode == 0:
            problems.append(f"{id} still exists")
            cli("delete", "--force", id)
        for pid in qemu_of(id):
            problems.append(f"QEMU of {id} (pid {pid}) still runs")
            os.kill(pid, 9)
        if vm_cgroups(id):
            problems.append(f"cgroups left: {vm_cgroups(id)}")
    vm_dir = state_root / ".lxcri" / "vm"
    left = sorted(os.listdir(vm_dir)) if vm_dir.is_dir() else []
    if left:
        problems.append(f"state left in {vm_dir}: {left}")
    if mounts_under(tmp_path):
        problems.append(f"mounts left: {mounts_under(tmp_path)}")
    assert not problems, problems


Edit = Callable[[Dict[str, Any]], None]


def test_run_output_stdin_and_exit_codes(vm_cli: VmCli, make_bundle: Any) -> None:
    """stdout and stderr stay apart, stdin reaches the process, run exits with its code."""
    bundle = make_bundle("sh", "-c", "read line; echo \"out:$line\"; echo err >&2; exit 42")
    proc = vm_cli("run", "--bundle", str(bundle), vm_id("run"), input="hello\n",
                  stdin=None)
    assert (proc.returncode, proc.stdout, proc.stderr) == (42, "out:hello\n", "err\n")
    ok = vm_cli("run", "--bundle", str(make_bundle("true")), vm_id("true"))
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "", "")


def test_run_killed_by_a_signal_exits_128_plus_n(vm_cli: VmCli, make_bundle: Any) -> None:
    proc = vm_cli("run", "--bundle", str(make_bundle("sh", "-c", "kill -USR1 $$")), vm_id("sig"))
    assert proc.returncode == 128 + 10, proc.stderr


def test_env_cwd_user_hostname_and_the_guest_kernel(vm_cli: VmCli, make_bundle: Any) -> None:
    def edit(spec: Dict[str, Any]) -> None:
        spec["process"]["env"] = ["PATH=/bin", "FOO=bar baz"]
        spec["process"]["cwd"] = "/tmp"
        spec["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 7]}

    bundle = make_bundle("sh", "-c", 'echo "$FOO|$(pwd)|$(id -u):$(id -g)|$(id -G)|'
                         '$(hostname)|$(uname -r)|$(env | sort | tr "\\n" ",")"',
                         hostname="vmt-guest", edit=edit)
    proc = vm_cli("run", "--bundle", str(bundle), vm_id("id"))
    assert proc.returncode == 0, proc.stderr
    foo, cwd, ids, groups, hostname, kernel, env = proc.stdout.rstrip("\n").split("|")
    assert (foo, cwd, ids, hostname) == ("bar baz", "/tmp", "1000:1001", "vmt-guest")
    assert groups.split() == ["1001", "5", "7"]
    assert kernel != os.uname().release  # the guest runs its own kernel
    assert kernel.endswith("-amd64")
    # Exactly the configured environment (sh adds PWD, SHLVL itself).
    assert [e for e in env.split(",") if e and not e.startswith(("PWD=", "SHLVL=", "OLDPWD="))] \
        == ["FOO=bar baz", "PATH=/bin"]


def test_lifecycle_exec_pause_resume_and_kill(vm_cli: VmCli, make_bundle: Any,
                                              tmp_path: Path) -> None:
    """create boots the VM but runs nothing; start runs it; one VM serves several execs,
    a pause and a resume; kill TERM stops it; delete leaves nothing."""
    shared = tmp_path / "shared"
    shared.mkdir()

    def edit(spec: Dict[str, Any]) -> None:
        spec["mounts"].append({"destination": "/tmp", "type": "bind", "source": str(shared),
                               "options": ["rbind", "rw"]})

    bundle = make_bundle("sh", "-c", "echo ran > /tmp/marker; exec sleep 600", edit=edit)
    id = vm_id("life")
    pid_file = tmp_path / "pid"
    vm_cli("create", "--bundle", str(bundle), "--pid-file", str(pid_file), id, check=True)
    state = vm_cli.state(id)
    assert state["status"] == "created"
    assert state["pid"] == int(pid_file.read_text()) and os.path.exists(f"/proc/{state['pid']}")
    assert qemu_of(id), "create boots the VM"
    assert not (shared / "marker").exists(), "the process ran before start"
    vm_cli("start", id, check=True)
    assert vm_cli.state(id)["status"] == "running"
    deadline = time.monotonic() + 60
    while not (shared / "marker").exists():
        assert time.monotonic() < deadline, "the process did not run after start"
        time.sleep(0.1)

    # exec: its own stdio, exit code, env, cwd and user.
    proc = vm_cli("exec", "--cwd", "/dev", "--env", "X=1", "--user", "7:8", id, "sh", "-c",
                  'echo "$X $(pwd) $(id -u):$(id -g)"; echo to-err >&2; exit 3')
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "1 /dev 7:8\n", "to-err\n")
    proc = vm_cli("exec", id, "cat", "/tmp/marker")
    assert (proc.returncode, proc.stdout) == (0, "ran\n")
    proc = vm_cli("exec", id, "sh", "-c", "read x; echo got-$x", input="in\n", stdin=None)
    assert (proc.returncode, proc.stdout) == (0, "got-in\n")
    missing = vm_cli("exec", id, "/no/such/program")
    assert missing.returncode == 127 and "/no/such/program" in missing.stderr

    vm_cli("pause", id, check=True)
    assert vm_cli.state(id)["status"] == "paused"
    refused = vm_cli("exec", id, "true")
    assert refused.returncode != 0 and "paused" in refused.stderr
    vm_cli("resume", id, check=True)
    assert vm_cli.state(id)["status"] == "running"
    assert vm_cli("exec", id, "true").returncode == 0

    ps = vm_cli("ps", "--format", "json", id, check=True).stdout
    assert state["pid"] in json.loads(ps)

    refused = vm_cli("delete", id)
    assert refused.returncode != 0 and "running" in refused.stderr
    vm_cli("kill", id, "TERM", check=True)
    vm_cli.wait_status(id, "stopped", timeout=60)
    assert not os.path.exists(f"/proc/{state['pid']}") or \
        "Z" in Path(f"/proc/{state['pid']}/stat").read_text().rsplit(")", 1)[1].split()[0]
    vm_cli("delete", id, check=True)
    assert vm_cli("state", id).returncode != 0


def test_network_loopback_only_or_user_mode(vm_cli: VmCli, make_bundle: Any) -> None:
    """A network namespace gives the guest loopback only; none (the host's network) gives it
    QEMU's user-mode network, through which it reaches a server on the host's loopback."""
    import socket
    import threading

    proc = vm_cli("run", "--bundle", str(make_bundle("ls", "/sys/class/net")), vm_id("lo"))
    assert (proc.returncode, proc.stdout.split()) == (0, ["lo"]), proc.stderr

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(BOOT)
    port = server.getsockname()[1]
    got: List[bytes] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(30)
                got.append(conn.recv(100))
                conn.sendall(b"pong\n")
        except OSError:
            pass

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["namespaces"] = [ns for ns in spec["linux"]["namespaces"]
                                       if ns["type"] != "network"]

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        script = f"ls /sys/class/net | tr '\\n' ' '; echo; echo ping | nc 10.0.2.2 {port}"
        proc = vm_cli("run", "--bundle", str(make_bundle("sh", "-c", script, edit=edit)),
                      vm_id("net"))
    finally:
        server.close()
        thread.join(5)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["eth0 lo ", "pong"]
    assert got == [b"ping\n"]


def test_a_terminal_through_the_console_socket(vm_cli: VmCli, make_bundle: Any,
                                               tmp_path: Path) -> None:
    """process.terminal: the master of a pty goes to --console-socket; the process has a tty
    in the guest, its window size follows the master's, input and output pass through."""
    import array
    import fcntl
    import socket
    import struct
    import termios

    def edit(spec: Dict[str, Any]) -> None:
        spec["process"]["terminal"] = True

    script = ('tty; while [ "$(stty size)" != "33 111" ]; do sleep 0.1; done; echo sized; '
              'read x; echo "got-$x"; exit 3')
    bundle = make_bundle("sh", "-c", script, edit=edit)
    path = tmp_path / "console.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    server.settimeout(BOOT)
    id = vm_id("tty")
    with open(os.devnull, "w") as null:
        run = vm_cli.popen("run", "--console-socket", str(path), "--bundle", str(bundle), id,
                           stdin=subprocess.DEVNULL, stdout=null, stderr=subprocess.PIPE)
    master = -1
    try:
        conn, _ = server.accept()
        fds = array.array("i")
        _msg, anc, _flags, _addr = conn.recvmsg(256, socket.CMSG_SPACE(4))
        conn.close()
        fds.frombytes(anc[0][2][:4])
        master = fds[0]
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
        out = b""
        while b"sized" not in out:
            chunk = os.read(master, 4096)
            assert chunk, out
            out += chunk
        os.write(master, b"hello\n")
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the last holder of the slave has gone
                break
            if not chunk:
                break
            out += chunk
            if b"got-hello" in out:
                break
        _o, err = run.communicate(timeout=BOOT)
    finally:
        server.close()
        if master >= 0:
            os.close(master)
        if run.poll() is None:
            run.kill()
            run.wait()
    text = out.decode(errors="replace").replace("\r", "")
    assert run.returncode == 3, err
    assert text.splitlines()[0].startswith("/dev/pts/"), text
    assert "got-hello" in text and "hello\n" in text  # the guest's pty echoes the input


def test_kill_KILL_ends_a_running_vm_with_137(vm_cli: VmCli, make_bundle: Any) -> None:
    id = vm_id("kill")
    with open(os.devnull, "w") as null:
        run = vm_cli.popen("run", "--bundle", str(make_bundle("sleep", "600")), id,
                           stdin=subprocess.DEVNULL, stdout=null, stderr=subprocess.PIPE)
        try:
            vm_cli.wait_status(id, "running")
            vm_cli("kill", id, "KILL", check=True)
            _out, err = run.communicate(timeout=60)
        finally:
            if run.poll() is None:
                run.kill()
                run.wait()
    assert run.returncode == 137, err


def test_kill_a_created_container_stops_it_unrun(vm_cli: VmCli, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    id = vm_id("created")
    vm_cli("create", "--bundle", str(make_bundle("true")), id, check=True)
    vm_cli("kill", id, "TERM", check=True)
    vm_cli.wait_status(id, "stopped", timeout=60)
    assert not qemu_of(id)
    vm_cli("delete", id, check=True)


def test_delete_force_of_a_running_vm(vm_cli: VmCli, make_bundle: Any) -> None:
    id = vm_id("force")
    vm_cli("run", "--detach", "--bundle", str(make_bundle("sleep", "600")), id, check=True)
    assert vm_cli.state(id)["status"] == "running"
    vm_cli("delete", "--force", id, check=True)
    assert not qemu_of(id)


def test_memory_limit_is_the_guests_memtotal_and_cpus_its_vcpus(
        vm_cli: VmCli, make_bundle: Any) -> None:
    limit = 384 * MIB

    def edit(spec: Dict[str, Any]) -> None:
        spec["linux"]["resources"] = {"memory": {"limit": limit},
                                      "cpu": {"quota": 200000, "period": 100000}}

    id = vm_id("mem")
    vm_cli("run", "--detach", "--bundle", str(make_bundle("sleep", "600", edit=edit)), id,
           check=True)
    proc = vm_cli("exec", id, "sh", "-c", "grep MemTotal /proc/meminfo; nproc")
    assert proc.returncode == 0, proc.stderr
    mem_line, nproc = proc.stdout.splitlines()
    mem_total = int(mem_line.split()[1]) * 1024
    # The guest kernel keeps some of the RAM for itself: MemTotal is a little below it.
    assert limit - 96 * MIB < mem_total <= limit, mem_line
    assert int(nproc) == min(2, os.cpu_count() or 1)
    # The host accounts the VM in a memory cgroup with the limit (plus QEMU's overhead).
    qemu = qemu_of(id)
    assert qemu
    with open(f"/proc/{qemu[0]}/cgroup") as f:
        assert f"lxcri-vm/{id}" in f.read()
    cgroup = vm_cgroups(id)[0]
    name = "memory.limit_in_bytes" if "/memory/" in cgroup else "memory.max"
    assert limit < int(Path(cgroup, name).read_text()) <= limit + 512 * MIB
    vm_cli("delete", "--force", id, check=True)


def test_readonly_root_and_bind_mounts(vm_cli: VmCli, make_bundle: Any, tmp_path: Path) -> None:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    rw.mkdir()
    ro.mkdir()
    (ro / "file").write_text("from-host\n")
    single = tmp_path / "single.txt"
    single.write_text("one file\n")

    def edit(spec: Dict[str, Any]) -> None:
        spec["root"]["readonly"] = True
        spec["mounts"] += [
            {"destination": "/tmp", "type": "bind", "source": str(rw), "options": ["rbind"]},
            {"destination": "/root", "type": "bind", "source": str(ro),
             "options": ["rbind", "ro"]},
            {"destination": "/etc/group", "type": "bind", "source": str(single),
             "options": ["bind", "ro"]},
        ]

    script = ("touch /x 2>/dev/null && echo root-rw || echo root-ro; echo hi > /tmp/new; "
              "cat /root/file; touch /root/y 2>/dev/null && echo ro-rw || echo ro-ro; "
              "cat /etc/group; grep -c ' /proc proc ' /proc/mounts; grep -c devpts /proc/mounts; "
              "test -c /dev/null && echo devnull")
    proc = vm_cli("run", "--bundle", str(make_bundle("sh", "-c", script, edit=edit)),
                  vm_id("mounts"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["root-ro", "from-host", "ro-ro", "one file", "1", "1",
                                        "devnull"]
    assert (rw / "new").read_text() == "hi\n"
    assert not (ro / "y").exists()


# -- refusals: one line, non-zero, before any QEMU starts --------------------------------

def _ns_path(spec: Dict[str, Any]) -> None:
    spec["linux"]["namespaces"] = [{"type": "network", "path": "/proc/1/ns/net"}]


def _device(spec: Dict[str, Any]) -> None:
    spec["linux"]["devices"] = [{"path": "/dev/kvm", "type": "c", "major": 10, "minor": 232}]


def _terminal(spec: Dict[str, Any]) -> None:
    spec["process"]["terminal"] = True


def _userns(spec: Dict[str, Any]) -> None:
    spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 1000, "size": 1}]


def _hooks(spec: Dict[str, Any]) -> None:
    spec["hooks"] = {"prestart": [{"path": "/bin/true"}]}


def _nfs(spec: Dict[str, Any]) -> None:
    spec["mounts"].append({"destination": "/mnt", "type": "nfs", "source": "srv:/x"})


def _tiny_memory(spec: Dict[str, Any]) -> None:
    spec["linux"]["resources"] = {"memory": {"limit": 16 * MIB}}


def _missing_bind(spec: Dict[str, Any]) -> None:
    spec["mounts"].append({"destination": "/mnt", "type": "bind", "source": "/no/such/dir",
                           "options": ["rbind"]})


REFUSALS = {
    "namespace-path": (_ns_path, [], "cannot join a host namespace"),
    "device": (_device, [], "passes no host device"),
    "terminal": (_terminal, [], "terminal"),
    "user-mappings": (_userns, [], "maps no user ids"),
    "hooks": (_hooks, [], "runs no OCI hooks"),
    "mount-type": (_nfs, [], "mount type 'nfs'"),
    "memory": (_tiny_memory, [], "below the 128 MiB"),
    "bind-source": (_missing_bind, [], "does not exist"),
    "preserve-fds": (None, ["--preserve-fds", "1"], "cannot pass host fds"),
    "console-socket": (_terminal, ["--console-socket", "/tmp/vmt-no-socket"],
                       "cannot send the terminal to the console socket /tmp/vmt-no-socket"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_come_before_qemu(vm_cli: VmCli, make_bundle: Any, case: str) -> None:
    edit, extra, words = REFUSALS[case]
    id = vm_id("no")
    bundle = make_bundle("true", edit=edit)
    for verb in ("create", "run"):
        proc = vm_cli(verb, *extra, "--bundle", str(bundle), id, timeout=60)
        assert proc.returncode != 0
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and words in lines[0] and id in lines[0], proc.stderr
        assert not qemu_of(id)
        assert vm_cli("state", id).returncode != 0


def test_the_library_runs_a_vm_through_its_sealed_helper(vm_cli: VmCli, make_bundle: Any,
                                                          state_root: Path) -> None:
    """lxcri.Runtime (whose helper runs a sealed interpreter copy) finds the guest too."""
    import sys

    bundle = make_bundle("sh", "-c", "echo from-api; exit 6")
    id = vm_id("api")
    vm_cli.ids.append(id)
    code = ("import lxcri, sys; rt = lxcri.Runtime(root=sys.argv[1]); "
            "c = rt.run(sys.argv[2], bundle=sys.argv[3], runtime='vm'); "
            "left = rt.list(); rt.close(); print('code', c, len(left))")
    proc = subprocess.run([sys.executable, "-P", "-c", code, str(state_root), id, str(bundle)],
                          capture_output=True, text=True, timeout=BOOT, stdin=subprocess.DEVNULL)
    assert proc.stdout == "from-api\ncode 6 0\n", proc.stderr


def test_info_lists_vm_with_its_accelerator(vm_cli: VmCli) -> None:
    info = json.loads(subprocess.run([LXCRI, "info", "--format", "json"], capture_output=True,
                                     text=True, check=True, timeout=60).stdout)
    vm = next(r for r in info["runtimes"] if r["name"] == "vm")
    assert vm["available"], vm
    assert ("tcg:" in vm["detail"]) or ("kvm:" in vm["detail"])
