"""Routing and ownership above the backend boundary, with a recording fake backend.

The backends here are TEST DOUBLES (RecordingBackend): they record each call and keep
a dict of containers, so the tests can check which backend every Runtime operation
reaches. The real backends are exercised in tests/integration/test_dispatch.py.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from lxcri import dispatch
from lxcri import info as hostinfo
from lxcri.config import Config, parse
from lxcri.errors import BackendUnavailable, ContainerExists, ContainerNotFound, LxcriError
from lxcri.runtime import Runtime


class RecordingBackend:
    """TEST DOUBLE for a backend: records (backend, op, id) and keeps containers in a dict.

    A container is also given a directory under the backend's root, as real backends
    do, so lxcri's list finds the backend. `fail_create` makes create raise.
    """

    registry: Dict[str, "RecordingBackend"] = {}
    calls: List[Tuple[str, str, Any]] = []

    def __init__(self, name: str, root: str) -> None:
        self.name = name
        self.root = root if name == "crun" else os.path.join(root, ".lxcri", name)
        self.containers: Dict[str, str] = {}
        self.fail_create = False

    def _dir(self, id: str) -> str:
        return os.path.join(self.root, id)

    def _need(self, id: str) -> None:
        if id not in self.containers:
            raise ContainerNotFound(f"container `{id}` does not exist ({self.name})")

    def create(self, id: str, options: Any) -> None:
        self.calls.append((self.name, "create", id))
        if self.fail_create:
            raise LxcriError(f"cannot create container `{id}`: the fake says no")
        self.containers[id] = "created"
        os.makedirs(self._dir(id))
        if self.name == "crun":
            Path(self._dir(id), "status").write_text("{}")

    def run(self, id: str, options: Any) -> int:
        self.calls.append((self.name, "run", id))
        if options.detach or options.keep:
            self.create(id, options)
            self.containers[id] = "running" if options.detach else "stopped"
        return 0

    def _op(op: str) -> Any:  # type: ignore[misc]
        def method(self: "RecordingBackend", id: str, *args: Any, **kw: Any) -> Any:
            self.calls.append((self.name, op, id))
            self._need(id)
            return {"ps": [1], "exec": 0}.get(op)
        return method

    start = _op("start")
    kill = _op("kill")
    pause = _op("pause")
    resume = _op("resume")
    ps = _op("ps")
    update = _op("update")
    exec = _op("exec")

    def state_json(self, id: str) -> str:
        self.calls.append((self.name, "state_json", id))
        self._need(id)
        return json.dumps({"ociVersion": "1.0.0", "id": id, "status": self.containers[id],
                           "pid": 0, "bundle": "/b"})

    def delete(self, id: str, *, force: bool = False) -> None:
        self.calls.append((self.name, "delete", id))
        self._need(id)
        del self.containers[id]
        os.rmdir(self._dir(id)) if self.name != "crun" else None
        if self.name == "crun":
            os.unlink(os.path.join(self._dir(id), "status"))
            os.rmdir(self._dir(id))

    def list(self) -> List[Dict[str, Any]]:
        return [json.loads(self.state_json(id)) for id in sorted(self.containers)]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Dict[str, RecordingBackend]:
    RecordingBackend.calls = []
    backends: Dict[str, RecordingBackend] = {}

    def open_backend(name: str, args: Dict[str, Any], options: Any = None,
                     config_path: Any = None) -> RecordingBackend:
        if name == "vm":
            raise BackendUnavailable("the vm backend is not implemented (fake)")
        if name not in backends:
            backends[name] = RecordingBackend(name, args["root"])
        return backends[name]

    monkeypatch.setattr(dispatch, "open_backend", open_backend)
    monkeypatch.setattr(dispatch, "availability",
                        lambda name, options=None: (name != "vm", "fake availability"))
    monkeypatch.delenv("LXCRI_RUNTIME", raising=False)
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    monkeypatch.setenv("LXCRI_CONFIG", str(empty))
    return backends


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    b = tmp_path / "bundle"
    (b / "rootfs").mkdir(parents=True)
    (b / "config.json").write_text(json.dumps({"ociVersion": "1.0.0", "root": {"path": "rootfs"},
                                               "process": {"args": ["true"], "cwd": "/"}}))
    return b


def runtime(tmp_path: Path, **kw: Any) -> Runtime:
    return Runtime(str(tmp_path / "root"), isolate=False, **kw)


# ---------------------------------------------------------------- choose()

CFG = parse(b'default_runtime = "runc"\n[[routing]]\npattern = "db-*"\nruntime = "lxc"\n'
            b'[[routing]]\npattern = "web-*"\nruntime = "runc"\n', "/etc/lxcri/lxcri.toml")


@pytest.mark.parametrize("id,explicit,annotations,expected,reason", [
    ("db-1", "crun", {"lxcri.runtime": "runc"}, "crun", "--runtime"),
    ("db-1", None, {"lxcri.runtime": "crun"}, "crun", "annotation lxcri.runtime"),
    ("db-1", None, {}, "lxc", "routing rule 'db-*' (/etc/lxcri/lxcri.toml:3)"),
    ("x", None, {"lxcri.name": "web-9"}, "runc", "routing rule 'web-*' (/etc/lxcri/lxcri.toml:6)"),
    ("lxc-7", None, {}, "lxc", "built-in rule 'lxc-*'"),
    ("other", None, {}, "runc", "default_runtime in /etc/lxcri/lxcri.toml"),
])
def test_first_match_wins(id: str, explicit: Any, annotations: Dict[str, str], expected: str,
                          reason: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXCRI_RUNTIME", raising=False)
    choice = dispatch.choose(id, explicit=explicit, annotations=annotations, config=CFG)
    assert (choice.runtime, choice.reason) == (expected, reason)
    assert choice.explicit == (reason in ("--runtime", "annotation lxcri.runtime"))


def test_file_rules_come_before_the_builtin_rule_and_crun_is_last(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LXCRI_RUNTIME", raising=False)
    cfg = parse(b'[[routing]]\npattern = "lxc-keep-*"\nruntime = "crun"\n', "f")
    assert dispatch.choose("lxc-keep-1", explicit=None, annotations={}, config=cfg).runtime == "crun"
    assert dispatch.choose("lxc-2", explicit=None, annotations={}, config=cfg).runtime == "lxc"
    assert dispatch.choose("a", explicit=None, annotations={}, config=Config()).reason == "default"
    monkeypatch.setenv("LXCRI_RUNTIME", "runc")
    assert dispatch.choose("a", explicit=None, annotations={"lxcri.runtime": "crun"},
                           config=cfg).runtime == "runc"
    with pytest.raises(LxcriError, match=r"unknown runtime 'kvm' \(from --runtime\)"):
        dispatch.choose("a", explicit="kvm", annotations={}, config=cfg)


def test_annotations_are_parsed_only_when_they_can_matter(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"annotations": {"lxcri.name": "web-1"}}))
    assert dispatch.read_annotations(str(path), needed=False) == {}
    assert dispatch.read_annotations(str(path), needed=True) == {"lxcri.name": "web-1"}
    path.write_text(json.dumps({"annotations": {"lxcri.runtime": "runc"}}))
    assert dispatch.read_annotations(str(path), needed=False) == {"lxcri.runtime": "runc"}
    path.write_text("{not json")
    assert dispatch.read_annotations(str(path), needed=True) == {}


# ---------------------------------------------------------------- ownership

def test_owner_records_are_exclusive(tmp_path: Path) -> None:
    owners = dispatch.Owners(str(tmp_path))
    results: List[bool] = []
    barrier = threading.Barrier(8)

    def claim(name: str) -> None:
        barrier.wait()
        results.append(owners.claim("c1", name))

    threads = [threading.Thread(target=claim, args=(n,)) for n in ["runc", "crun"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False] * 7 + [True]
    assert owners.get("c1") in ("runc", "crun")
    assert owners.all() == {"c1": owners.get("c1")}
    owners.release("c1")
    owners.release("c1")  # twice is fine
    assert owners.get("c1") is None and not os.path.exists(owners.dir)  # empty dirs go too


def test_later_commands_go_to_the_owner(fakes: Dict[str, RecordingBackend], bundle: Path,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rt = runtime(tmp_path)
    rt.create("r1", str(bundle), runtime="runc")
    rt.create("c1", str(bundle))
    # A rule appearing later changes nothing for existing containers.
    rules = tmp_path / "rules.toml"
    rules.write_text('[[routing]]\npattern = "*"\nruntime = "lxc"\n')
    monkeypatch.setenv("LXCRI_CONFIG", str(rules))
    rt = runtime(tmp_path)
    RecordingBackend.calls.clear()
    for id in ("r1", "c1"):
        rt.start(id)
        rt.kill(id, "KILL")
        rt.pause(id)
        rt.resume(id)
        rt.ps(id)
        rt.update(id, {"pids": {"limit": 5}})
        rt.exec(id, args=["true"])
        rt.state(id)
    assert {(b, id) for b, op, id in RecordingBackend.calls} == {("runc", "r1"), ("crun", "c1")}
    assert [(s.id, s.runtime) for s in rt.list()] == [("c1", "crun"), ("r1", "runc")]
    assert rt.state("r1").runtime == "runc"
    rt.delete("r1")
    rt.delete("c1")
    assert dispatch.Owners(rt.root).all() == {}
    with pytest.raises(ContainerNotFound):
        rt.delete("r1")
    rt.delete("r1", force=True)  # --force of an unknown id is quiet


def test_a_failed_create_leaves_no_record(fakes: Dict[str, RecordingBackend], bundle: Path,
                                          tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    rt.create("warm", str(bundle), runtime="runc")
    fakes["runc"].fail_create = True
    with pytest.raises(LxcriError, match="the fake says no"):
        rt.create("r2", str(bundle), runtime="runc")
    assert rt.owner("r2") == "crun" and dispatch.Owners(rt.root).get("r2") is None
    with pytest.raises(BackendUnavailable, match=r"cannot create container `v1` on the vm runtime "
                                                 r"\(chosen by --runtime\)"):
        rt.create("v1", str(bundle), runtime="vm")
    assert dispatch.Owners(rt.root).get("v1") is None


def test_a_foreground_run_releases_its_record(fakes: Dict[str, RecordingBackend], bundle: Path,
                                              tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    assert rt.run("f1", str(bundle), runtime="runc") == 0
    assert dispatch.Owners(rt.root).get("f1") is None
    rt.run("d1", str(bundle), runtime="runc", detach=True)
    rt.run("k1", str(bundle), runtime="runc", keep=True)
    assert dispatch.Owners(rt.root).all() == {"d1": "runc", "k1": "runc"}


def test_ids_are_unique_across_backends(fakes: Dict[str, RecordingBackend], bundle: Path,
                                        tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    rt.create("same", str(bundle), runtime="runc")
    with pytest.raises(ContainerExists, match=r"container `same` already exists .* \(runtime runc\)"):
        rt.create("same", str(bundle))
    # A stale record (its container vanished behind lxcri's back) is replaced.
    del fakes["runc"].containers["same"]
    rt.create("same", str(bundle))
    assert rt.owner("same") == "crun"
    # An unrecorded crun container (created by crun itself) blocks other backends too.
    os.makedirs(os.path.join(rt.root, "bycrun"))
    Path(rt.root, "bycrun", "status").write_text("{}")
    with pytest.raises(ContainerExists, match="runtime crun"):
        rt.create("bycrun", str(bundle), runtime="runc")


def test_fallback_to_runc_when_crun_cannot_load(fakes: Dict[str, RecordingBackend], bundle: Path,
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(dispatch, "embedded_crun_problem",
                        lambda load=True: "libcrun.so.0 is missing (fake)")
    monkeypatch.setattr(dispatch, "_warned", False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no crun binary to stand in
    import lxcri.backends.oci_binary as oci

    monkeypatch.setattr(oci, "find_binary", lambda name, path=None: (None, f"no {name} (fake)"))
    rt = runtime(tmp_path)
    rt.create("fb", str(bundle))
    assert rt.owner("fb") == "runc"
    err = capsys.readouterr().err
    assert err == "lxcri: warning: libcrun.so.0 is missing (fake); no crun binary either: " \
                  "container `fb` runs on runc\n"
    # Asked for by name, crun is not replaced by runc.
    rt.create("fb2", str(bundle), runtime="crun")
    assert ("crun", "create", "fb2") in RecordingBackend.calls  # the (fake) crun backend is asked


# ---------------------------------------------------------------- cgroups for `info`

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
PURE_V2 = "30 23 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"


def test_cgroup_modes_and_the_hybrid_problem() -> None:
    hybrid = hostinfo.cgroup_layout(HYBRID, "hugetlb\n")
    assert hybrid["mode"] == "hybrid" and hybrid["v2_controllers"] == ["hugetlb"]
    assert hybrid["v1_controllers"] == ["cpu", "memory", "name=systemd"]
    assert "libcrun" in hybrid["problem"]
    assert hybrid["fix"] == ("mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb "
                             "cgroup /sys/fs/cgroup/hugetlb")
    assert "problem" not in hostinfo.cgroup_layout(HYBRID, "")
    v2 = hostinfo.cgroup_layout(PURE_V2, "cpu memory pids\n")
    assert (v2["mode"], v2["v2_controllers"], "problem" in v2) == (
        "v2", ["cpu", "memory", "pids"], False)
    v1 = hostinfo.cgroup_layout("\n".join(HYBRID.splitlines()[:3]))
    assert v1["mode"] == "v1"
