"""The `podman run --rm` peer: a private podman (config, store, run root, locks, cgroup
parent, one `--root` wrapper per runtime), its timed iteration, and its cleanup.

Nothing is shared with a podman on the host; what podman 4.3 creates on the host
whatever its configuration is removed afterwards if it was not there before.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import resource
import shutil
import subprocess
import tarfile
import time
from collections.abc import Sequence
from pathlib import Path

from .common import PREFIX, REAP_DEADLINE_S, BenchError
from .peers import Runtime, resolve
from .procs import Procs, children_of, describe_status

PODMAN_IMAGE = "localhost/lxcri-bench-busybox:latest"
PODMAN_CMD_TIMEOUT_S = 120.0  # setup and cleanup commands; timed runs have none
CONMON_PATHS = ("/usr/bin/conmon", "/usr/sbin/conmon", "/usr/libexec/podman/conmon",
                "/usr/local/libexec/podman/conmon", "/usr/lib/podman/bin/conmon")
# podman 4.3 keeps its blob-info cache in /var/lib/containers/cache whatever its
# storage root, and short-name alias locks in /var/cache/containers. Directories
# among these that did not exist before are removed afterwards, with these files
# (nothing else: a directory still holding anything else is left alone).
PODMAN_HOST_DIRS = ("/var/lib/containers", "/var/lib/containers/cache",
                    "/var/cache/containers", "/run/libpod")
PODMAN_HOST_FILES = ("blob-info-cache-v1.boltdb", "short-name-aliases.conf.lock")
# Never removed (another podman on the host may own them), only reported if they appear.
PODMAN_HOST_WATCH = ("/dev/shm/libpod_lock", "/run/containers")
MNT_DETACH = 2  # <sys/mount.h>

PODMAN_CONF = """\
# Written by lxcri's bench/bench.py: a private podman, nothing shared with the host's.
[containers]
default_ulimits = {ulimits}
log_driver = "k8s-file"
netns = "none"

[engine]
runtime = "crun"
# No systemd here; file locks in tmp_dir, not the host-wide /dev/shm/libpod_lock.
# (No static_dir: the cleanup process conmon starts gets --root but not the
# storage conf, and would look for the database elsewhere.)
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
tmp_dir = {tmp_dir}
volume_path = {volume_path}
# podman passes --log-format=json --log FILE only to the runtimes named here.
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "lxcri"]

[engine.runtimes]
{runtimes}

[network]
network_config_dir = {cni}
"""

PODMAN_STORAGE_CONF = """\
[storage]
driver = "vfs"
graphroot = {graph}
runroot = {run}
"""


def toml_str(s: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML for these paths)."""
    return json.dumps(s)


def podman_ulimits() -> list[str]:
    """podman's defaults, lowered to the hard limits: without CAP_SYS_RESOURCE a
    limit above them cannot be set, and every container would fail to start."""
    def cap(res: int, want: int) -> int:
        hard = resource.getrlimit(res)[1]
        return want if hard == resource.RLIM_INFINITY else min(want, hard)

    nofile = cap(resource.RLIMIT_NOFILE, 1048576)
    nproc = cap(resource.RLIMIT_NPROC, 32768)
    return [f"nofile={nofile}:{nofile}", f"nproc={nproc}:{nproc}"]


def mounts_under(prefix: Path) -> list[str]:
    """Mount points at or below prefix, from our mountinfo."""
    base = str(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4]
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), point)
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return found


def unmount_under(prefix: Path) -> list[str]:
    """Unmount (lazily if need be) everything below prefix; returns warnings."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(3):
        points = mounts_under(prefix)
        if not points:
            return []
        for point in sorted(set(points), key=lambda p: p.count("/"), reverse=True):
            if libc.umount2(os.fsencode(point), 0) != 0:
                libc.umount2(os.fsencode(point), MNT_DETACH)
    return [f"still mounted: {p}" for p in mounts_under(prefix)]


def cgroup_hierarchies() -> list[Path]:
    top = Path("/sys/fs/cgroup")
    if (top / "cgroup.controllers").exists():  # unified (v2) only
        return [top]
    try:
        return [p for p in sorted(top.iterdir()) if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def remove_cgroup_tree(name: str, seconds: float) -> list[str]:
    """rmdir <hierarchy>/<name> bottom-up in every hierarchy; returns warnings."""
    deadline = time.monotonic() + seconds
    while True:
        left = []
        for hier in cgroup_hierarchies():
            top = hier / name
            if not top.is_dir():
                continue
            for dirpath, _, _ in sorted(os.walk(top), key=lambda e: -e[0].count("/")):
                try:
                    os.rmdir(dirpath)
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(dirpath)
        if not left or time.monotonic() >= deadline:
            return [f"cgroup left: {d}" for d in left]
        time.sleep(0.1)


def find_conmon() -> str | None:
    return shutil.which("conmon") or next((p for p in CONMON_PATHS if os.access(p, os.X_OK)), None)


class Podman:
    """podman against a private configuration, store, run root, tmp dir and XDG dirs.

    Each runtime is registered under its own name in [engine.runtimes] as a /bin/sh
    wrapper that adds `--root <private dir>` (podman passes none), so no runtime
    state lands in /run/crun, /run/runc or lxcri's default root. The same wrapper
    cost (one exec of dash) is in every variant. Containers go under a private
    cgroup parent, which cleanup removes.
    """

    def __init__(self, path: str, base: Path, runtimes: Sequence[Runtime]) -> None:
        self.path = path
        self.base = base
        self.cgroup_parent = f"{PREFIX}podman-{os.getpid()}"
        self.runtimes = [Runtime(rt.key, rt.path, base / "runtime-roots" / rt.key) for rt in runtimes]
        self.version = ""
        self.started = False  # a podman command has run: there may be things to clean
        self.host_absent: list[str] = []
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "HOME": str(base),
            "LANG": "C.UTF-8",
            "CONTAINERS_CONF": str(base / "containers.conf"),
            "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
            "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf"),
            "XDG_CONFIG_HOME": str(base / "xdg-config"),
            "XDG_DATA_HOME": str(base / "xdg-data"),
            "XDG_CACHE_HOME": str(base / "xdg-cache"),
            "XDG_RUNTIME_DIR": str(base / "xdg-runtime"),
            "TMPDIR": str(base / "tmp"),
        }

    def setup(self, rootfs: Path) -> None:
        """Write the configuration and wrappers, import the image from rootfs."""
        self.host_absent = [p for p in (*PODMAN_HOST_DIRS, *PODMAN_HOST_WATCH)
                            if not os.path.lexists(p)]
        base = self.base
        for sub in ("bin", "tmp", "xdg-config", "xdg-data", "xdg-cache", "xdg-runtime",
                    "cni", "libpod-tmp", "volumes"):
            (base / sub).mkdir(mode=0o700, parents=True)
        wrappers = []
        for rt in self.runtimes:
            rt.root.mkdir(parents=True)
            wrapper = base / "bin" / rt.key
            wrapper.write_text("#!/bin/sh\n"
                               f"exec {sh_quote(rt.path)} --root {sh_quote(str(rt.root))} \"$@\"\n")
            wrapper.chmod(0o755)
            wrappers.append(f"{rt.key} = [{toml_str(str(wrapper))}]")
        (base / "containers.conf").write_text(PODMAN_CONF.format(
            ulimits=json.dumps(podman_ulimits()),
            tmp_dir=toml_str(str(base / "libpod-tmp")), volume_path=toml_str(str(base / "volumes")),
            runtimes="\n".join(wrappers), cni=toml_str(str(base / "cni"))))
        (base / "storage.conf").write_text(PODMAN_STORAGE_CONF.format(
            graph=toml_str(str(base / "graph")), run=toml_str(str(base / "run"))))
        (base / "registries.conf").write_text("unqualified-search-registries = []\n")
        tarball = base / "rootfs.tar"

        def as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            return info

        with tarfile.open(tarball, "w") as tar:
            for entry in sorted(rootfs.iterdir()):
                tar.add(entry, arcname=entry.name, filter=as_root)
        self.version = self._call("--version").stdout.strip()
        self.started = True
        self._call("import", "--quiet", str(tarball), PODMAN_IMAGE)

    def run_argv(self, key: str) -> list[str]:
        return [self.path, "--runtime", key, "run", "--rm", "--network", "none",
                f"--cgroup-parent=/{self.cgroup_parent}", PODMAN_IMAGE, "/bin/true"]

    def timed_run(self, procs: Procs, argv: list[str]) -> int:
        """`podman run --rm`, timed alone; then, untimed, wait for the conmon and
        `podman container cleanup` it leaves behind (reparented to us) to exit."""
        before = set(children_of(os.getpid()))
        ns = procs.run(argv, env=self.env).elapsed_ns
        procs.settle(before, REAP_DEADLINE_S)
        return ns

    def _call(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [self.path, *args]
        try:
            proc = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=PODMAN_CMD_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise BenchError(f"`{' '.join(argv)}` did not finish within "
                             f"{PODMAN_CMD_TIMEOUT_S:.0f} s") from None
        if check and proc.returncode != 0:
            raise BenchError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}; "
                             f"its stderr:\n{proc.stderr.strip()[-2000:]}")
        return proc

    def teardown(self, procs: Procs) -> list[str]:
        """Remove every container of the private store and what runtimes still hold."""
        if not self.started:
            return []
        warnings = []
        for what, fn in (("podman rm", self._remove_containers),
                         ("runtime state", lambda: self._delete_runtime_state(procs))):
            try:
                warnings += fn()
            except Exception as exc:  # noqa: BLE001 - keep cleaning up
                warnings.append(f"podman {what}: {exc}")
        return warnings

    def _remove_containers(self) -> list[str]:
        rm = self._call("rm", "--force", "--all", "--time", "0", check=False)
        warnings = [] if rm.returncode == 0 else [
            f"`podman rm --force --all` exited {rm.returncode}: {rm.stderr.strip()[-500:]}"]
        left = self._call("ps", "--all", "--quiet", check=False).stdout.split()
        if left:
            warnings.append(f"podman containers left in {self.base}: {left}")
        return warnings

    def _delete_runtime_state(self, procs: Procs) -> list[str]:
        warnings = []
        for rt in self.runtimes:
            try:
                ids = sorted(e for e in os.listdir(rt.root)
                             if not e.startswith(".") and (rt.root / e).is_dir())
            except FileNotFoundError:
                continue
            for cid in ids:
                got = procs.run(rt.argv("delete", "--force", cid), check=False)
                warnings.append(f"{rt.key} state of {cid} was left in {rt.root} (`delete --force` "
                                f"{'removed it' if got.status == 0 else describe_status(got.status)})")
        return warnings

    def release(self) -> list[str]:
        """After every child is gone: unmount, remove our cgroups and created host paths."""
        if not self.started:
            return []
        warnings = unmount_under(self.base)
        warnings += remove_cgroup_tree(self.cgroup_parent, REAP_DEADLINE_S)
        created = [d for d in PODMAN_HOST_DIRS if d in self.host_absent]
        for d in sorted(created, key=len, reverse=True):
            for name in PODMAN_HOST_FILES:
                try:
                    os.unlink(os.path.join(d, name))
                except OSError:
                    pass
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as exc:
                warnings.append(f"{d} was created during the run and is not empty, left: {exc}")
        for p in PODMAN_HOST_WATCH:
            if p in self.host_absent and os.path.lexists(p):
                warnings.append(f"{p} appeared during the run (left alone: it may be another podman's)")
        return warnings


def sh_quote(s: str) -> str:
    return "'" + s.replace("'", "'\\''") + "'"



def find_podman(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(podman path, None), or (None, why its row is skipped)."""
    if args.podman_rounds == 0:
        return None, "--podman-rounds 0"
    if args.podman:
        path = resolve("podman", args.podman)  # asked for by name: an error if missing
    else:
        found = shutil.which("podman")
        if not found:
            return None, "podman not found in PATH (Debian: podman conmon)"
        path = os.path.abspath(found)
    if find_conmon() is None:
        return None, "conmon not found (Debian: conmon)"
    return path, None
