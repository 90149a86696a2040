"""Helpers the tests import: the lxcri command runner, ids, process and mount checks."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"
LXCRI = os.path.join(os.path.dirname(sys.executable), "lxcri")
BUSYBOX = "/bin/busybox"


def needs_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to run containers")


def new_id(tag: str = "") -> str:
    return f"lxcri-test-{tag}{'-' if tag else ''}{uuid.uuid4().hex[:8]}"


# `runtime=` not given: the Cli's own default.
_DEFAULT_RUNTIME: Any = object()


class Cli:
    """Runs the installed `lxcri` command against one state root; create and run get
    `--runtime <runtime>` when the Cli (or the call) names one."""

    def __init__(self, root: Path, runtime: Optional[str] = None) -> None:
        self.root = root
        self.runtime = runtime

    def argv(self, *args: str, runtime: Any = _DEFAULT_RUNTIME) -> List[str]:
        if runtime is _DEFAULT_RUNTIME:
            runtime = self.runtime
        # --runtime belongs to create and run; later commands follow the ownership record
        extra = ["--runtime", runtime] if runtime and args and args[0] in ("create", "run") else []
        return [LXCRI, "--root", str(self.root), *args[:1], *extra, *args[1:]]

    def __call__(self, *args: str, check: bool = False, timeout: float = 60,
                 runtime: Any = _DEFAULT_RUNTIME, **kw: Any) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: a created or detached container keeps the caller's stdio
        # (as with crun), so a pipe would not reach EOF while it lives.
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            kw.setdefault("stdout", out)
            kw.setdefault("stderr", err)
            kw.setdefault("stdin", subprocess.DEVNULL)
            proc = subprocess.run(self.argv(*args, runtime=runtime), text=True,
                                  timeout=timeout, check=False, **kw)
            out.seek(0)
            err.seek(0)
            proc.stdout = out.read() if kw["stdout"] is out else ""
            proc.stderr = err.read() if kw["stderr"] is err else ""
        if check and proc.returncode != 0:
            raise AssertionError(f"lxcri {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def state(self, id: str) -> Dict[str, Any]:
        out = self("state", id, check=True).stdout
        return dict(json.loads(out))


def process_state(pid: int) -> Optional[str]:
    """The state letter of process pid (/proc/PID/stat: R, S, T, Z, ...); None when gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def fd_inodes(pid: int) -> set[tuple[int, int]]:
    """(st_dev, st_ino) of every file process pid holds open."""
    found = set()
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            st = os.stat(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:
            continue
        found.add((st.st_dev, st.st_ino))
    return found


def zombie_children(pid: Optional[int] = None) -> List[int]:
    """Zombie processes whose parent is `pid` (default: this process)."""
    parent = os.getpid() if pid is None else pid
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z" and int(fields[1]) == parent:
            found.append(int(entry))
    return found


def mounts_under(path: Path) -> List[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def cgroups_named(id: str) -> List[str]:
    """cgroup directories (v1 controllers or v2) whose name is the container id."""
    found = []
    for top in ("/sys/fs/cgroup", *[f"/sys/fs/cgroup/{c}" for c in os.listdir("/sys/fs/cgroup")]):
        for dirpath, dirnames, _files in os.walk(top):
            if dirpath.count("/") > top.count("/") + 3:
                dirnames[:] = []
                continue
            if os.path.basename(dirpath) == id or os.path.basename(dirpath).endswith(id):
                found.append(dirpath)
    return found


def memory_limit_of(pid: int) -> int:
    """The memory limit of process `pid`'s cgroup, read on the host side: its
    /proc/PID/cgroup names the cgroup, on the v1 memory controller (hybrid) or the
    v2 hierarchy (pure v2 or hybrid's unified mount). What a container sees inside
    depends on the libcrun version and the cgroup namespace; this does not."""
    with open(f"/proc/{pid}/cgroup") as f:
        lines = [line.rstrip("\n").split(":", 2) for line in f]
    for _num, controllers, path in lines:
        if "memory" in controllers.split(","):
            with open(f"/sys/fs/cgroup/memory{path}/memory.limit_in_bytes") as f:
                return int(f.read())
    for num, controllers, path in lines:
        if num == "0" and controllers == "":
            base = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") \
                else "/sys/fs/cgroup"
            with open(f"{base}{path}/memory.max") as f:
                value = f.read().strip()
            return -1 if value == "max" else int(value)
    raise AssertionError(f"/proc/{pid}/cgroup names no memory cgroup: {lines}")


def processes_rooted_at(path: Path) -> List[int]:
    """Processes whose root directory is `path` (what a container's processes have)."""
    target = os.path.realpath(path)
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/root") == target:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def needs_strace() -> None:
    if shutil.which("strace") is None:
        pytest.skip("no strace (make test-deps installs it)")


def opened_under_strace(argv: List[str], timeout: float = 60
                        ) -> "tuple[subprocess.CompletedProcess[str], List[str]]":
    """Run argv under `strace -f` (openat only, stdin from /dev/null); its result and the
    paths it and its children opened successfully, normalized, in order. Not for a
    command that leaves a process running: strace waits for every process it follows."""
    needs_strace()
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as trace:
        proc = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-e", "signal=none",
                               "-o", trace.name, *argv], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)
        lines = trace.read().splitlines()
    paths = [os.path.normpath(line.split('"')[1]) for line in lines
             if "openat(" in line and line.count('"') >= 2 and "ENOENT" not in line]
    return proc, paths


def state_left(root: Any) -> List[str]:
    """What a state root holds: its entries, except that lxcri's own `.lxcri` directory counts
    only by the files in it (ownership records, other backends' state, stray logs), so that
    the empty directories lxcri keeps are not mistaken for a leak."""
    root = str(root)
    if not os.path.isdir(root):
        return []
    found = sorted(e for e in os.listdir(root) if e != ".lxcri")
    private = os.path.join(root, ".lxcri")
    for dirpath, _dirs, files in os.walk(private):
        for name in files:
            found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(found)


def copy_rootfs(src: Path, dst: Path) -> None:
    """Copy a test rootfs (symlinks as symlinks) without opening what is not a regular
    file: a container whose config dropped the /dev tmpfs has libcrun make its device
    nodes (zero, urandom, ...) in the rootfs itself, and copying those would read them
    until the disk is full."""
    import shutil
    import stat

    def specials(directory: str, names: List[str]) -> List[str]:
        skipped = []
        for name in names:
            mode = os.lstat(os.path.join(directory, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                skipped.append(name)
        return skipped

    shutil.copytree(src, dst, symlinks=True, ignore=specials)


def bundle_factory(tmp_path: Path, rootfs: Path, base_spec: Dict[str, Any],
                   default_hostname: str = "lxcri-test") -> Any:
    """A make_bundle(*args, hostname=..., edit=callable(spec)) -> bundle directory factory:
    bundles in tmp_path whose config is base_spec running args on rootfs."""
    counter = [0]

    def factory(*args: str, hostname: str = default_hostname, edit: Any = None) -> Path:
        counter[0] += 1
        bundle = tmp_path / f"bundle{counter[0]}"
        bundle.mkdir()
        spec = json.loads(json.dumps(base_spec))
        spec["root"]["path"] = str(rootfs)
        spec["process"]["args"] = list(args) or ["true"]
        spec["hostname"] = hostname
        if edit is not None:
            edit(spec)
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        return bundle

    return factory
