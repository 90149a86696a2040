"""Intent records, cgroup derivation and confinement, state-file checks and state roots, without
containers. The integration tier (tests/integration/test_faults_state.py) runs the same
faults on real ones; here the pieces are checked on other hosts' layouts and on edge cases.
The backend in the Runtime tests is a TEST DOUBLE (_NoContainers) that knows no container:
what the Runtime reports then comes from lxcri's records alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

from lxcri import dispatch, leftovers
from lxcri.errors import (
    ContainerNotFound,
    ContainerStateError,
    InvalidArgument,
    StateCorrupt,
)
from lxcri.host import cgroup_paths, cgroups, mountinfo
from lxcri.runtime import Runtime, _check_root_writable
from lxcri.state import file_problem

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
SELF = "4:memory:/process_api/abc\n3:cpu:/\n1:name=systemd:/init.scope\n0::/\n"


# ---------------------------------------------------------------- records

def test_a_record_round_trips_with_escaped_values() -> None:
    facts = {"phase": "creating", "pid": "12", "start": "345", "bundle": "/b/with\nnewline%0A",
             "cgroup_dirs": "/sys/fs/cgroup/cpu/x\t/sys/fs/cgroup/memory/x",
             "cgroup_old": "/sys/fs/cgroup/cpu/x", "state_new": "1"}
    text = dispatch.Record("x", "", "crun", facts).text()
    assert text.count("\n") == len(facts) + 1  # one fact a line, whatever the values hold
    back = dispatch.Record.parse("x", "/p", text.encode())
    assert (back.problem, back.runtime, back.facts) == (None, "crun", facts)
    assert back.creator == (12, "345") and back.phase == "creating" and back.state_new
    assert back.cgroup_dirs == ["/sys/fs/cgroup/cpu/x", "/sys/fs/cgroup/memory/x"]
    assert back.cgroup_old == ["/sys/fs/cgroup/cpu/x"]


def test_a_record_from_before_intents_is_a_created_container() -> None:
    record = dispatch.Record.parse("x", "/p", b"runc\n")
    assert (record.problem, record.runtime, record.phase, record.cgroup_dirs) == \
        (None, "runc", "created", [])


@pytest.mark.parametrize("data,problem", [
    (b"", "it is empty"),
    (b"\n\n", "it is empty"),
    (b"\xff\xfe", "not UTF-8"),
    (b"kvm\nphase=creating\n", "names no runtime"),
    (b"crun\nphase=creating\nowner=me\n", "did not write"),
    (b"crun\nno equals sign\n", "did not write"),
])
def test_corrupt_records_say_why(data: bytes, problem: str) -> None:
    record = dispatch.Record.parse("x", "/p", data)
    assert record.problem is not None and problem in record.problem


def test_owners_update_ids_and_stale_files_written_aside(tmp_path: Path) -> None:
    owners = dispatch.Owners(str(tmp_path))
    assert owners.claim("a", "crun", {"phase": "creating", "pid": "1"})
    owners.update("a", phase="created")
    record = owners.read("a")
    assert record is not None and record.phase == "created" and record.creator[0] == 1
    (Path(owners.dir) / "b").write_bytes(b"\x00garbage")
    assert owners.ids() == ["a", "b"] and owners.all() == {"a": "crun"}
    owners.update("b", phase="created")  # an unreadable record is left as it is
    assert (Path(owners.dir) / "b").read_bytes() == b"\x00garbage"
    # A create killed between writing its record aside and linking it into place:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(owners.dir) / f".tmp-{dead}-00aa").write_text("crun\n")
    (Path(owners.dir) / f".tmp-{os.getpid()}-00bb").write_text("crun\n")  # alive: kept
    owners.release("a")
    assert sorted(os.listdir(owners.dir)) == [f".tmp-{os.getpid()}-00bb", "b"]


# ---------------------------------------------------------------- cgroups

@pytest.mark.parametrize("path,bad", [
    ("/lxcri/c1", None), ("lxcri/c1", None), ("c1", None), ("/a/./b", None),
    ("system.slice:lxcri:c1", None), ("a..b", None),
    ("../x", "`..`"), ("/a/../../x", "`..`"), ("a/..", "`..`"), ("/", "root"), ("", "root"),
    ("./.", "root"), ("x\0y", "NUL"), ("..:lxcri:c1", "`..`"),
])
def test_cgroups_path_confinement(path: str, bad: Any) -> None:
    problem = cgroup_paths.cgroups_path_problem(path)
    assert (problem is None) == (bad is None), problem
    if bad is not None:
        assert bad in str(problem)


def test_the_cgroup_dirs_libcrun_and_runc_use() -> None:
    mounts = mountinfo.parse(HYBRID)
    points = ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd",
              "/sys/fs/cgroup/unified"]
    assert cgroup_paths.hierarchy_mounts(mounts) == points
    # libcrun: absolute, /<id> by default, on every hierarchy.
    assert cgroup_paths.container_dirs("crun", "c1", None, mounts, SELF) == \
        [f"{p}/c1" for p in points]
    assert cgroup_paths.container_dirs("crun", "c1", "k/c1", mounts, SELF) == \
        [f"{p}/k/c1" for p in points]
    # runc: a relative path (the default <id>) is below its own cgroup on each hierarchy.
    assert cgroup_paths.container_dirs("runc", "c1", None, mounts, SELF) == [
        "/sys/fs/cgroup/cpu/c1", "/sys/fs/cgroup/memory/process_api/abc/c1",
        "/sys/fs/cgroup/systemd/init.scope/c1", "/sys/fs/cgroup/unified/c1"]
    assert cgroup_paths.container_dirs("runc", "c1", "/abs/c1", mounts, SELF) == \
        [f"{p}/abs/c1" for p in points]
    assert cgroup_paths.container_dirs("crun", "c1", None, mountinfo.parse(PURE_V2), "0::/x\n") == \
        ["/sys/fs/cgroup/c1"]


@pytest.mark.parametrize("directory,ok", [
    ("/sys/fs/cgroup/cpu/c1", True), ("/sys/fs/cgroup/memory/a/b", True),
    ("/sys/fs/cgroup/cpu", False), ("/sys/fs/cgroup/cpu/", False),
    ("/sys/fs/cgroup/cpu/../x", False), ("/sys/fs/cgroup/cpu/./x", False),
    ("/etc", False), ("/sys/fs/cgroup/cpuset/x", False), ("/sys/fs/cgroup/x", False),
])
def test_only_cgroups_below_a_hierarchy_are_followed(directory: str, ok: bool) -> None:
    assert cgroup_paths.below_a_hierarchy(directory, ["/sys/fs/cgroup/cpu",
                                                 "/sys/fs/cgroup/memory"]) is ok


def test_removing_cgroups_that_are_not_there_is_quiet(tmp_path: Path) -> None:
    assert cgroups.remove([str(tmp_path / "gone")]) == []
    nested = tmp_path / "cg" / "sub"
    nested.mkdir(parents=True)  # plain directories stand in for cgroups without processes
    assert cgroups.remove([str(tmp_path / "cg")]) == [] and not (tmp_path / "cg").exists()


# ---------------------------------------------------------------- state files

@pytest.mark.parametrize("data,problem", [
    (b"", "is empty"), (b"  \n", "is empty"), (b"garbage{", "not JSON"),
    (b'{"pid": 1', "not JSON"), (b"[1]", "not a JSON object"), (b'{"pid": 1}', "'rootfs'"),
    (b"[" * 100000, "not JSON"),
])
def test_state_file_problems_name_the_file(tmp_path: Path, data: bytes, problem: str) -> None:
    path = tmp_path / "status"
    path.write_bytes(data)
    found = file_problem(str(path), ("pid", "rootfs"))
    assert found is not None and str(path) in found and problem in found


def test_a_good_or_missing_state_file_has_no_problem(tmp_path: Path) -> None:
    path = tmp_path / "status"
    assert file_problem(str(path), ("pid",)) is None
    path.write_text(json.dumps({"pid": 3}))
    assert file_problem(str(path), ("pid",)) is None


# ---------------------------------------------------------------- roots

def test_roots_that_are_slash_or_not_a_directory_are_refused(tmp_path: Path) -> None:
    (tmp_path / "to-slash").symlink_to("/")
    (tmp_path / "file").write_text("")
    (tmp_path / "to-file").symlink_to(tmp_path / "file")
    for root, what in (("/", "the host's / directory"), (str(tmp_path / "to-slash"), "resolves"),
                       ("/../..", "the host's /"), (str(tmp_path / "file"), "not a directory"),
                       (str(tmp_path / "to-file"), "not a directory"),
                       (str(tmp_path / "file" / "sub"), None)):
        if what is None:
            Runtime(root, isolate=False)  # below a file: refused when written to (below)
            continue
        with pytest.raises(InvalidArgument, match="--root") as exc:
            Runtime(root, isolate=False)
        assert root in exc.value.message and what in exc.value.message
    with pytest.raises(InvalidArgument, match="not a directory"):
        _check_root_writable(str(tmp_path / "file" / "sub"))
    _check_root_writable(str(tmp_path / "new" / "root"))  # made later: fine


# ---------------------------------------------------------------- what records alone report

class _NoContainers:
    """TEST DOUBLE for a backend that has no containers at all."""

    def __init__(self, **_: Any) -> None:
        self.calls: List[str] = []

    def state_json(self, id: str, *args: Any, **kw: Any) -> str:
        raise ContainerNotFound(f"container `{id}` does not exist (fake)")

    kill = delete = state_json

    def list(self) -> List[Dict[str, Any]]:
        return []


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Runtime:
    monkeypatch.setattr(dispatch, "open_backend", lambda *a, **k: _NoContainers())
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv("LXCRI_CONFIG", str(empty))
    return Runtime(str(tmp_path / "root"), isolate=False)


def _dead_pid() -> str:
    return subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_an_interrupted_create_is_reported_and_removed(bare: Runtime) -> None:
    owners = dispatch.Owners(bare.root)
    owners.claim("half", "crun", {"phase": "creating", "pid": _dead_pid(), "start": "1",
                                  "bundle": "/b"})
    doc = json.loads(bare.state_json("half"))
    assert (doc["status"], doc["pid"], doc["bundle"]) == ("stopped", 0, "/b")
    assert "interrupted" in doc["lxcri.problem"]
    assert [(s.id, s.status) for s in bare.list()] == [("half", leftovers.BROKEN)]
    with pytest.raises(ContainerStateError, match="interrupted.*delete --force half"):
        bare.kill("half", "KILL")
    bare.delete("half")  # its creator is gone: a plain delete removes it
    assert owners.read("half") is None and bare.list() == []


def test_a_create_in_progress_needs_force(bare: Runtime) -> None:
    from lxcri.host import procfs

    owners = dispatch.Owners(bare.root)
    me = str(os.getpid())
    owners.claim("busy", "crun", {"phase": "creating", "pid": me,
                                  "start": str(procfs.starttime(os.getpid())), "bundle": "/b"})
    assert json.loads(bare.state_json("busy"))["status"] == "creating"
    assert [s.status for s in bare.list()] == ["creating"]
    with pytest.raises(ContainerStateError, match=f"being created by lxcri process {me}"):
        bare.delete("busy")
    assert owners.read("busy") is not None


def test_a_corrupt_record_is_listed_and_refused_until_forced(bare: Runtime) -> None:
    owners = dispatch.Owners(bare.root)
    os.makedirs(owners.dir)
    Path(owners.dir, "junk").write_bytes(b"\x00\x01")
    owners.claim("fine", "crun", {"phase": "created"})  # stale: its container is gone
    assert [(s.id, s.status) for s in bare.list()] == [("junk", leftovers.CORRUPT)]
    with pytest.raises(StateCorrupt, match=r"record .*owners/junk is corrupt"):
        bare.state("junk")
    with pytest.raises(StateCorrupt):
        bare.delete("junk")
    bare.delete("junk", force=True)
    assert owners.read("junk") is None
    with pytest.raises(ContainerNotFound):
        bare.state("fine")


class _WritesStatus(_NoContainers):
    """TEST DOUBLE for a backend whose create writes a libcrun status file, as libcrun does
    under the systemd cgroup manager (the scope's path is known only from it)."""

    def __init__(self, root: str) -> None:
        super().__init__()
        self.root = root

    def create(self, id: str, options: Any) -> None:
        os.makedirs(os.path.join(self.root, id))
        Path(self.root, id, "status").write_text(json.dumps(
            {"pid": 1, "cgroup-path": f"/system.slice/crun-{id}.scope", "rootfs": "/r",
             "bundle": "/b", "created": "now"}))


def test_under_systemd_the_record_learns_the_cgroup_after_create(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = str(tmp_path / "root")
    monkeypatch.setattr(dispatch, "open_backend", lambda *a, **k: _WritesStatus(root))
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("LXCRI_CONFIG", str(tmp_path / "empty.toml"))
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    (bundle / "config.json").write_text('{"root": {"path": "rootfs"}}')
    rt = Runtime(root, isolate=False, systemd_cgroup=True)
    rt.create_container("sd", str(bundle))
    record = dispatch.Owners(root).read("sd")
    assert record is not None and record.phase == "created"
    points = cgroups.host_hierarchy_mounts()
    assert record.cgroup_dirs == [f"{p}/system.slice/crun-sd.scope" for p in points]
    assert record.cgroup_old == []  # not known before: systemd made it
