"""Real container engines driving the runtime under test: podman+conmon, containerd+ctr.

Both engines run against private state only: podman gets its own containers.conf,
storage.conf, store, run root and tmp dir; containerd is a private daemon with its own
root, state, socket and namespace. The runtime binary is wrapped by a small shell
script that appends every argv it receives to a log (shown when a test fails) and,
for podman, adds `--root <private dir>` (podman passes no --root itself), then execs
the runtime. Finalizers remove every container, unmount whatever is left under the
private directories, remove the private cgroups, stop the daemon by its PID and
delete the directories, even when a test failed.

The runtime under test is $LXCRI_ENGINE_TEST_RUNTIME, default the installed lxcri;
`LXCRI_ENGINE_TEST_RUNTIME=/usr/bin/crun` validates the harness itself.
$LXCRI_ENGINE_TEST_ARGV_DIR, if set, receives each engine's runtime argv log.
Nothing here installs anything: a missing engine skips (and the conftest turns
that skip into a failure under CI=true); `make test-deps` installs the engines.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import stat
import subprocess
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple, Union

import pytest

from support import BUSYBOX, LXCRI, needs_root

RUNTIME = os.environ.get("LXCRI_ENGINE_TEST_RUNTIME") or LXCRI
# If set, each engine's log of the runtime argv it passed is copied there at the end.
ARGV_DIR = os.environ.get("LXCRI_ENGINE_TEST_ARGV_DIR")
IMAGE_REF = "localhost/lxcri-test-busybox:latest"
# A fixed timestamp keeps the image tarballs (and so their digests) reproducible.
EPOCH = 1700000000
PODMAN_PKGS = "podman conmon"
CONTAINERD_PKGS = "containerd"


# ---------------------------------------------------------------- small helpers

def require(*tools: str, packages: str) -> None:
    """Skip (a failure under CI=true) when an engine binary is missing."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (Debian: {packages}; "
                    "`make test-deps` installs them)")


def runtime_path() -> str:
    needs_root()
    if not os.access(RUNTIME, os.X_OK):
        pytest.fail(f"runtime under test {RUNTIME} is missing: run `make venv` "
                    "or set LXCRI_ENGINE_TEST_RUNTIME")
    return RUNTIME


def run(argv: Sequence[str], *, timeout: float = 60, check: bool = False,
        input: Optional[str] = None, env: Optional[Dict[str, str]] = None,
        cwd: Optional[str] = None,
        context: Callable[[], str] = str) -> subprocess.CompletedProcess[str]:
    """Run a command with its output in files (a detached container may hold a pipe open).
    A failure message ends with context(), e.g. the runtime calls the command caused."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        try:
            proc = subprocess.run(list(argv), check=False, stdout=out, stderr=err, text=True,
                                  env=env, cwd=cwd, timeout=timeout,
                                  stdin=subprocess.DEVNULL if input is None else None,
                                  input=input)
        except subprocess.TimeoutExpired:
            out.seek(0)
            err.seek(0)
            raise AssertionError(f"timed out after {timeout}s: {' '.join(argv)}\n"
                                 f"stdout: {out.read()[-2000:]}\nstderr: {err.read()[-2000:]}"
                                 f"{context()}") from None
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} exited {proc.returncode}\n"
                             f"stdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"
                             f"{context()}")
    return proc


def mounts_under(prefix: Path) -> List[str]:
    """Mount points at or below `prefix` (deepest last in mount order)."""
    base = str(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return found


def unmount_under(prefix: Path) -> List[str]:
    """Unmount everything below `prefix`; returns what could not be unmounted."""
    for _ in range(3):
        points = mounts_under(prefix)
        if not points:
            return []
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if subprocess.run(["umount", point], check=False,
                              capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    return [f"still mounted: {p}" for p in mounts_under(prefix)]


def cgroup_hierarchies() -> List[Path]:
    top = Path("/sys/fs/cgroup")
    if (top / "cgroup.controllers").exists():  # pure v2
        return [top]
    return [p for p in sorted(top.iterdir()) if p.is_dir() and not p.is_symlink()]


def remove_cgroup_tree(name: str, timeout: float = 10) -> List[str]:
    """rmdir /sys/fs/cgroup/<hierarchy>/<name> bottom-up; returns what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for hier in cgroup_hierarchies():
            top = hier / name
            if not top.is_dir():
                continue
            for dirpath, _dirs, _files in sorted(os.walk(top), key=lambda e: -e[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() > deadline:
            return [f"cgroup left: {d}" for d in left]
        time.sleep(0.1)


def procs_matching(pred: Callable[[List[str]], bool]) -> List[Tuple[int, List[str]]]:
    """(pid, argv) of the processes whose argv satisfies `pred`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
            except OSError:
                continue
            if argv and pred(argv):
                found.append((int(entry), argv))
    return found


def kill_pids(pids: Sequence[int]) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class HostPathGuard:
    """Some engine files land outside any configurable directory: podman 4.3 keeps its
    blob-info cache in /var/lib/containers/cache whatever its storage root, and
    containerd 1.6's shims put their sockets in /run/containerd/s. Afterwards remove
    the directories among `dirs` that did not exist before, with the files named in
    `files` (nothing else: a directory still holding something else is left alone)."""

    def __init__(self, dirs: Sequence[str], files: Sequence[str] = ()) -> None:
        self.created = [d for d in dirs if not os.path.lexists(d)]
        self.files = files

    def cleanup(self) -> None:
        for d in sorted(self.created, key=len, reverse=True):
            for name in self.files:
                try:
                    os.unlink(os.path.join(d, name))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except OSError:
                pass


def write_runtime_wrapper(path: Path, runtime: str, argv_log: Path,
                          root: Optional[Path] = None, config: Optional[Path] = None) -> Path:
    """A /bin/sh wrapper that logs each argv (one line, pid first) and execs the runtime,
    with LXCRI_CONFIG pointing at `config` when given (engines pass the runtime no
    environment of the test's)."""
    extra = f"--root {sh_quote(str(root))} " if root is not None else ""
    env = f"export LXCRI_CONFIG={sh_quote(str(config))}\n" if config is not None else ""
    path.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$$ $*\" >> {sh_quote(str(argv_log))}\n"
        f"{env}"
        f"exec {sh_quote(runtime)} {extra}\"$@\"\n")
    path.chmod(0o755)
    return path


def state_dirs(root: Path) -> List[str]:
    """Container state directories under a runtime root (dot entries are the runtime's own)."""
    try:
        return sorted(e for e in os.listdir(root) if not e.startswith(".")
                      and os.path.isdir(os.path.join(root, e)))
    except FileNotFoundError:
        return []


def step(problems: List[str], what: str, fn: Callable[[], Any]) -> None:
    """One cleanup step: a failure is recorded, and the next steps still run."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - cleanup must go on
        problems.append(f"{what}: {e}")


def delete_runtime_state(runtime: str, root: Path) -> List[str]:
    """Force-deletes containers an engine left in the runtime's root; reports each."""
    problems = []
    for id in state_dirs(root):
        proc = run([runtime, "--root", str(root), "delete", "--force", id], timeout=60)
        problems.append(f"runtime state left for {id} in {root} (delete --force exited "
                        f"{proc.returncode}: {proc.stderr.strip()})")
    return problems


def log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def print_new_lines(argv_log: Path, mark: int) -> None:
    """Shows the runtime calls of one test (pytest prints captured output of failures)."""
    try:
        with open(argv_log) as f:
            f.seek(mark)
            text = f.read()
    except FileNotFoundError:
        return
    print(f"runtime argv during this test ({argv_log}; pid args):\n{text}", end="")


def keep_argv_log(argv_log: Path, engine: str) -> None:
    if ARGV_DIR and argv_log.exists():
        os.makedirs(ARGV_DIR, exist_ok=True)
        shutil.copy(argv_log, os.path.join(ARGV_DIR, f"{engine}-runtime-argv.log"))


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"


def argv_tail(argv_log: Path, lines: int = 12) -> str:
    try:
        text = argv_log.read_text().splitlines()[-lines:]
    except OSError:
        return ""
    return "\nlast runtime argv (pid args):\n  " + "\n  ".join(text)


# ---------------------------------------------------------------- images

def build_rootfs_tar() -> bytes:
    """A busybox rootfs as an uncompressed, reproducible tar (about 2 MB)."""
    if not os.path.isfile(BUSYBOX):
        pytest.skip("busybox-static is not installed (make test installs it)")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(name: str, kind: bytes, data: bytes = b"", mode: int = 0o755,
                link: str = "") -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime, info.linkname = kind, mode, EPOCH, link
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for d in ("bin", "dev", "etc", "proc", "root", "sys", "tmp"):
            add(d, tarfile.DIRTYPE, mode=0o1777 if d == "tmp" else 0o755)
        with open(BUSYBOX, "rb") as f:
            add("bin/busybox", tarfile.REGTYPE, f.read())
        for name in sorted(set(applets) - {"busybox"}):
            add(f"bin/{name}", tarfile.SYMTYPE, link="busybox", mode=0o777)
        add("etc/group", tarfile.REGTYPE, b"root:x:0:\n", 0o644)
        add("etc/passwd", tarfile.REGTYPE, b"root:x:0:0:root:/root:/bin/sh\n", 0o644)
    return buf.getvalue()


def goarch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}.get(machine, machine)


def build_oci_archive(layer_tar: bytes, name: str) -> bytes:
    """An OCI image layout tarball (oci-layout, index.json, blobs) with one gzip layer."""
    layer = gzip.compress(layer_tar, mtime=0)

    def blob(data: bytes) -> Dict[str, Any]:
        return {"digest": "sha256:" + hashlib.sha256(data).hexdigest(), "size": len(data)}

    def canon(obj: Any) -> bytes:
        return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()

    config = canon({
        "architecture": goarch(), "os": "linux",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH)),
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"], "WorkingDir": "/"},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
        "history": [{"created_by": "lxcri tests: busybox-static rootfs"}],
    })
    manifest = canon({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **blob(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **blob(layer)}],
    })
    index = canon({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest),
            "platform": {"architecture": goarch(), "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]},
        }],
    })
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        def add(path: str, data: Optional[bytes] = None) -> None:
            info = tarfile.TarInfo(path)
            info.mtime, info.uid, info.gid = EPOCH, 0, 0
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode, info.size = 0o644, len(data)
                tar.addfile(info, io.BytesIO(data))

        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        add("blobs")
        add("blobs/sha256")
        for data in (config, layer, manifest):
            add("blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)
    return out.getvalue()


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("engine-image") / "busybox-rootfs.tar"
    path.write_bytes(build_rootfs_tar())
    return path


# ---------------------------------------------------------------- podman

CONTRIB_CONF = Path(__file__).resolve().parent.parent / "contrib" / "containers.conf"


def podman_conf(base: Path, wrapper: Path) -> Dict[str, Dict[str, Any]]:
    """contrib/containers.conf (what users install) with the tests' private settings on top."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            pytest.fail("reading contrib/containers.conf needs Python 3.11+ or tomli")
    with open(CONTRIB_CONF, "rb") as f:
        conf: Dict[str, Any] = tomllib.load(f)
    engine = conf.setdefault("engine", {})
    assert "lxcri" in engine.get("runtime_supports_json", []), \
        f"{CONTRIB_CONF} does not list lxcri in runtime_supports_json"
    assert "lxcri" in engine.get("runtimes", {}), f"{CONTRIB_CONF} does not register lxcri"
    engine.update({
        "runtime": "lxcri",
        # This host: no systemd; nofile capped at 20000.
        "cgroup_manager": "cgroupfs",
        "events_logger": "file",
        # File locks in tmp_dir instead of the host-wide /dev/shm/libpod_lock. (No
        # static_dir: podman's cleanup process, started by conmon, gets --root but
        # not the storage conf, and would look for its database elsewhere.)
        "lock_type": "file",
        "tmp_dir": f"{base}/libpod-tmp",
        "volume_path": f"{base}/volumes",
    })
    engine["runtimes"]["lxcri"] = [str(wrapper)]
    conf.setdefault("containers", {}).update({
        "default_ulimits": ["nofile=20000:20000", "nproc=32768:32768"],
        "log_driver": "k8s-file",
        "netns": "none",  # no network: nothing of the host's network setup is touched
    })
    conf.setdefault("network", {})["network_config_dir"] = f"{base}/cni"
    return conf


def toml_dumps(conf: Dict[str, Any], prefix: str = "") -> str:
    """Enough TOML for containers.conf: tables of strings, numbers, bools, string lists."""
    lines, tables = [], []
    for key, value in conf.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    out = (f"[{prefix}]\n" if prefix and lines else "") + "".join(line + "\n" for line in lines)
    for key, value in tables:
        out += "\n" + toml_dumps(value, f"{prefix}.{key}" if prefix else key)
    return out


STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = "{base}/graph"
runroot = "{base}/run"
"""


class Podman:
    """Runs podman against a private store, configuration and runtime root."""

    def __init__(self, base: Path, runtime: str) -> None:
        self.base = base
        self.runtime = runtime
        self.argv_log = base / "runtime-argv.log"
        self.runtime_root = base / "runtime-root"
        self.cgroup_parent = f"lxcri-test-podman-{uuid.uuid4().hex[:8]}"
        self.image = IMAGE_REF
        for sub in ("bin", "tmp", "xdg-config", "xdg-data", "cni", "runtime-root"):
            (base / sub).mkdir()
        # lxcri's routing rules for this podman's containers; tests write rules into it.
        self.lxcri_toml = base / "lxcri.toml"
        self.lxcri_toml.write_text("")
        self.wrapper = write_runtime_wrapper(base / "bin" / "lxcri", runtime, self.argv_log,
                                             root=self.runtime_root, config=self.lxcri_toml)
        (base / "containers.conf").write_text(
            "# Written by the lxcri tests: contrib/containers.conf + private settings.\n"
            + toml_dumps(podman_conf(base, self.wrapper)))
        (base / "storage.conf").write_text(STORAGE_CONF.format(base=base))
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base),
            "LANG": "C.UTF-8",
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
            "XDG_CONFIG_HOME": str(base / "xdg-config"),
            "XDG_DATA_HOME": str(base / "xdg-data"),
            "TMPDIR": str(base / "tmp"),
            # podman 5 warns about cgroups v1 on every call, into a tty container's output too
            "PODMAN_IGNORE_CGROUPSV1_WARNING": "1",
        }
        (base / "registries.conf").write_text("unqualified-search-registries = []\n")

    def argv(self, *args: str) -> List[str]:
        return ["podman", *args]

    def __call__(self, *args: str, check: bool = False, timeout: float = 60,
                 input: Optional[str] = None) -> subprocess.CompletedProcess[str]:
        return run(self.argv(*args), check=check, timeout=timeout, input=input,
                   env=self.env, context=lambda: argv_tail(self.argv_log))

    def run_args(self, *args: str) -> List[str]:
        """`podman run` arguments that keep the container's cgroups under a private parent
        (conmon's cgroup follows it), so cleanup can remove them."""
        return ["run", f"--cgroup-parent=/{self.cgroup_parent}", *args]

    def status(self, name: str) -> str:
        out = self("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name,
                   check=True).stdout
        return out.strip()

    def remove_containers(self) -> List[str]:
        problems = []
        proc = self("rm", "--force", "--all", "--time", "0", timeout=120)
        if proc.returncode != 0:
            problems.append(f"podman rm -f -a: {proc.stderr.strip()}")
        left = self("ps", "--all", "--quiet").stdout.split()
        if left:
            problems.append(f"podman containers left: {left}")
        return problems

    def teardown(self) -> List[str]:
        """Every step runs even when an earlier one failed; returns what went wrong."""
        problems: List[str] = []
        step(problems, "podman rm", lambda: problems.extend(self.remove_containers()))
        step(problems, "podman rmi", lambda: self("rmi", "--all", "--force", timeout=120))
        # Whatever the runtime still holds in its private root (podman lost track of it).
        step(problems, "runtime state", lambda: problems.extend(
            delete_runtime_state(self.runtime, self.runtime_root)))
        step(problems, "conmon", lambda: kill_pids([pid for pid, _ in procs_matching(
            lambda a: os.path.basename(a[0]) == "conmon" and any(str(self.base) in x for x in a))]))
        step(problems, "mounts", lambda: problems.extend(unmount_under(self.base)))
        step(problems, "cgroups", lambda: problems.extend(remove_cgroup_tree(self.cgroup_parent)))
        return problems


@pytest.fixture(scope="module")
def podman_session(tmp_path_factory: pytest.TempPathFactory, rootfs_tar: Path) -> Iterator[Podman]:
    runtime = runtime_path()
    require("podman", "conmon", packages=PODMAN_PKGS)
    guard = HostPathGuard(["/var/lib/containers", "/var/lib/containers/cache",
                           "/var/cache/containers"],
                          ["blob-info-cache-v1.boltdb", "short-name-aliases.conf.lock"])
    base = tmp_path_factory.mktemp("podman")
    pm = Podman(base, runtime)
    problems: List[str] = []
    try:
        pm("import", "--quiet", str(rootfs_tar), IMAGE_REF, check=True, timeout=120)
        yield pm
    finally:
        problems = pm.teardown()
        step(problems, "host paths", guard.cleanup)
        keep_argv_log(pm.argv_log, "podman")
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, f"podman cleanup: {problems}"


@pytest.fixture(name="podman")
def podman_fixture(podman_session: Podman) -> Iterator[Podman]:
    """The module's private podman; every container is force-removed after each test."""
    mark = log_size(podman_session.argv_log)
    yield podman_session
    print_new_lines(podman_session.argv_log, mark)
    problems = podman_session.remove_containers()
    assert not problems, f"cleanup: {problems}"


# ---------------------------------------------------------------- containerd

CONTAINERD_TOML = """\
# Written by the lxcri tests: a private containerd, nothing shared with a system one.
version = 2
root = "{base}/root"
state = "{base}/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = "{base}/containerd.sock"

[ttrpc]
  address = "{base}/containerd.sock.ttrpc"

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
"""


class Containerd:
    """A private containerd daemon and a `ctr` bound to its socket and namespace."""

    def __init__(self, base: Path, runtime: str) -> None:
        self.base = base
        self.runtime = runtime
        self.address = str(base / "containerd.sock")
        self.namespace = f"lxcri-test-{uuid.uuid4().hex[:8]}"
        self.argv_log = base / "runtime-argv.log"
        self.runc_root = base / "runc-root"
        self.fifo_dir = base / "fifo"
        self.image = IMAGE_REF
        self.proc: Optional[subprocess.Popen[bytes]] = None
        (base / "bin").mkdir()
        self.runc_root.mkdir()
        self.fifo_dir.mkdir()
        self.wrapper = write_runtime_wrapper(base / "bin" / "lxcri", runtime, self.argv_log)
        (base / "config.toml").write_text(CONTAINERD_TOML.format(base=base))

    def start(self, timeout: float = 30) -> None:
        with open(self.base / "containerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                ["containerd", "--config", str(self.base / "config.toml")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                cwd=str(self.base), start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"containerd exited {self.proc.returncode}:\n{self.log()}")
            if os.path.exists(self.address) and self("version").returncode == 0:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"containerd not ready in {timeout}s:\n{self.log()}")
            time.sleep(0.1)

    def log(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.base / "containerd.log").read_text(
                errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __call__(self, *args: str, check: bool = False, timeout: float = 60,
                 input: Optional[str] = None) -> subprocess.CompletedProcess[str]:
        return run(["ctr", "--address", self.address, "--namespace", self.namespace, *args],
                   check=check, timeout=timeout, input=input,
                   context=lambda: argv_tail(self.argv_log))

    def run_args(self, *args: str) -> List[str]:
        """`ctr run` options selecting the runtime under test with a private runtime root."""
        return ["run", "--snapshotter", "native", "--runc-binary", str(self.wrapper),
                "--runc-root", str(self.runc_root), "--fifo-dir", str(self.fifo_dir), *args]

    def exec_args(self, *args: str) -> List[str]:
        return ["tasks", "exec", "--fifo-dir", str(self.fifo_dir), *args]

    def task_status(self, id: str) -> str:
        for line in self("tasks", "ls", check=True).stdout.splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == id:
                return fields[-1]
        return ""

    def remove_containers(self) -> List[str]:
        problems = []
        tasks = [line.split() for line in self("tasks", "ls").stdout.splitlines()[1:]]
        for fields in tasks:
            if fields[-1] in ("PAUSED", "PAUSING"):  # a frozen task cannot die
                self("tasks", "resume", fields[0])
            self("tasks", "kill", "--signal", "SIGKILL", fields[0])
        deadline = time.monotonic() + 10
        for id in [fields[0] for fields in tasks]:
            while self("tasks", "delete", id).returncode != 0:
                if time.monotonic() > deadline:
                    proc = self("tasks", "delete", "--force", id)
                    if proc.returncode != 0:
                        problems.append(f"task {id}: {proc.stderr.strip()}")
                    break
                time.sleep(0.1)
        for id in self("containers", "ls", "--quiet").stdout.split():
            proc = self("containers", "delete", id)
            if proc.returncode != 0:
                problems.append(f"container {id}: {proc.stderr.strip()}")
        return problems

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)

    def kill_shims(self) -> List[str]:
        """Shims outlive a stopped containerd; ours carry our socket address. A killed
        shim leaves its socket in /run/containerd/s (containerd 1.6 does not let us move
        it), named by the hash of our address, namespace and the container id."""
        shims = {pid: argv for pid, argv in procs_matching(
            lambda a: "containerd-shim" in os.path.basename(a[0]) and self.address in a)}
        kill_pids(list(shims))
        for argv in shims.values():
            if "-id" in argv[:-1]:
                key = os.path.join(self.address, self.namespace, argv[argv.index("-id") + 1])
                sock = "/run/containerd/s/" + hashlib.sha256(key.encode()).hexdigest()
                if os.path.exists(sock) and stat.S_ISSOCK(os.lstat(sock).st_mode):
                    os.unlink(sock)
        return [f"shims left (killed): {sorted(shims)}"] if shims else []

    def teardown(self) -> List[str]:
        """Every step runs even when an earlier one failed; returns what went wrong."""
        problems: List[str] = []
        if self.proc is not None and self.proc.poll() is None:
            step(problems, "ctr delete", lambda: problems.extend(self.remove_containers()))
        step(problems, "stop containerd", self.stop)
        step(problems, "shims", lambda: problems.extend(self.kill_shims()))
        step(problems, "runtime state", lambda: problems.extend(
            delete_runtime_state(self.runtime, self.runc_root / self.namespace)))
        step(problems, "mounts", lambda: problems.extend(unmount_under(self.base)))
        step(problems, "cgroups", lambda: problems.extend(remove_cgroup_tree(self.namespace)))
        return problems


@pytest.fixture(scope="module")
def containerd_session(tmp_path_factory: pytest.TempPathFactory,
                       rootfs_tar: Path) -> Iterator[Containerd]:
    runtime = runtime_path()
    require("containerd", "ctr", "containerd-shim-runc-v2", packages=CONTAINERD_PKGS)
    guard = HostPathGuard(["/run/containerd", "/run/containerd/s", "/run/containerd/fifo"])
    base = tmp_path_factory.mktemp("containerd")
    cd = Containerd(base, runtime)
    archive = base / "busybox-oci.tar"
    archive.write_bytes(build_oci_archive(rootfs_tar.read_bytes(), IMAGE_REF))
    problems: List[str] = []
    try:
        cd.start()
        cd("images", "import", "--snapshotter", "native", str(archive), check=True, timeout=120)
        yield cd
    finally:
        problems = cd.teardown()
        step(problems, "host paths", guard.cleanup)
        keep_argv_log(cd.argv_log, "containerd")
        shutil.rmtree(base, ignore_errors=True)
    assert not problems, f"containerd cleanup: {problems}"


@pytest.fixture(name="containerd")
def containerd_fixture(containerd_session: Containerd) -> Iterator[Containerd]:
    """The module's private containerd; every task and container is removed after each test."""
    mark = log_size(containerd_session.argv_log)
    yield containerd_session
    print_new_lines(containerd_session.argv_log, mark)
    problems = containerd_session.remove_containers()
    assert not problems, f"cleanup: {problems}"


# A container process that exits 3 on SIGTERM at once (the shell, pid 1, waits on a
# background sleep): shows that a stop or kill reached it.
TRAP_TERM = 'trap "exit 3" TERM; sleep 1000 & wait'


def runtime_calls(engine: Union["Podman", "Containerd"], verb: str) -> List[str]:
    """Logged runtime argv lines (without the pid) that contain `verb` as a word."""
    log = engine.argv_log
    lines = log.read_text().splitlines() if log.exists() else []
    return [ln.split(" ", 1)[1] for ln in lines if verb in ln.split()[1:]]
