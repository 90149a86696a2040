"""Dispatch on real containers: the runc backend, routing, ownership, `list`, `info`, fallback.

Every container here is real (busybox, run by the embedded libcrun or by the runc
binary). Which backend ran a container is checked from the outside: runc keeps
its state in <root>/.lxcri/runc (listed by `runc --root`), crun in <root>/<id>.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import pytest

from support import Cli, new_id

pytestmark = [pytest.mark.integration, pytest.mark.core]

RUNC = shutil.which("runc") or "/usr/sbin/runc"


@pytest.fixture(autouse=True)
def _no_ambient_routing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The host's /etc/lxcri/lxcri.toml or a stray LXCRI_RUNTIME must not steer these tests."""
    monkeypatch.delenv("LXCRI_RUNTIME", raising=False)
    empty = tmp_path / "empty-lxcri.toml"
    empty.write_text("")
    monkeypatch.setenv("LXCRI_CONFIG", str(empty))
    if not os.access(RUNC, os.X_OK):
        pytest.skip("runc is not installed (make test installs it)")


def runc_spec_version() -> str:
    """The OCI spec version runc reports (`spec: 1.0.2-dev` from 1.1.5, `1.2.0` from
    1.1.15): what it writes as a container's ociVersion."""
    out = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True).stdout
    return next(line.split(":", 1)[1].strip() for line in out.splitlines()
                if line.startswith("spec:"))


def runc_ids(root: Path) -> List[str]:
    """The containers runc itself knows under lxcri's runc root."""
    proc = subprocess.run([RUNC, "--root", str(root / ".lxcri" / "runc"), "list", "-q"],
                          capture_output=True, text=True, check=False)
    return proc.stdout.split() if proc.returncode == 0 else []


def crun_ids(root: Path) -> List[str]:
    return sorted(e for e in os.listdir(root) if not e.startswith(".")
                  and (root / e / "status").is_file())


def owner_record(root: Path, id: str) -> str:
    """The owning backend a record names (its first line; the intent facts follow)."""
    path = root / ".lxcri" / "owners" / id
    return path.read_text().split("\n", 1)[0].strip() if path.exists() else ""


def write_config(tmp_path: Path, text: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "lxcri.toml"
    path.write_text(text)
    monkeypatch.setenv("LXCRI_CONFIG", str(path))
    return path


# ---------------------------------------------------------------- the runc backend

def test_runc_run_output_and_exit_code(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    id = new_id("runc")
    bundle = make_bundle("sh", "-c", "echo out-$(hostname); echo err >&2; exit 7",
                         hostname="runc-box")
    proc = cli("run", "--runtime", "runc", "-b", str(bundle), id)
    assert proc.returncode == 7, proc.stderr
    assert proc.stdout == "out-runc-box\n"
    assert proc.stderr == "err\n"
    assert cli("list", "-q").stdout == ""
    assert runc_ids(state_root) == [] and crun_ids(state_root) == []
    assert owner_record(state_root, id) == ""


def test_runc_container_driven_by_plain_commands(cli: Cli, make_bundle: Any,
                                                 state_root: Path) -> None:
    """Created by runc, then started, inspected, paused, exec'd into, killed and deleted
    by lxcri commands that do not name a runtime: ownership sends them to runc."""
    id = new_id("own")
    bundle = make_bundle("sh", "-c", "echo started; exec sleep 60")
    cli("create", "--runtime", "runc", "-b", str(bundle), "--pid-file",
        str(state_root / "pid"), id, check=True)
    assert runc_ids(state_root) == [id] and crun_ids(state_root) == []
    assert owner_record(state_root, id) == "runc"
    state = cli.state(id)
    assert state["status"] == "created" and state["ociVersion"] == runc_spec_version()  # runc's
    assert int((state_root / "pid").read_text()) == state["pid"]
    cli("start", id, check=True)
    assert cli.state(id)["status"] == "running"
    pids = json.loads(cli("ps", "--format", "json", id, check=True).stdout)
    assert state["pid"] in pids
    cli("pause", id, check=True)
    assert cli.state(id)["status"] == "paused"
    cli("resume", id, check=True)
    proc = cli("exec", id, "sh", "-c", "echo in-exec; exit 3")
    assert (proc.returncode, proc.stdout) == (3, "in-exec\n")
    cli("kill", id, "KILL", check=True)
    for _ in range(100):
        if cli.state(id)["status"] == "stopped":
            break
        subprocess.run(["sleep", "0.05"], check=True)
    assert cli.state(id)["status"] == "stopped"
    cli("delete", id, check=True)
    proc = cli("state", id)
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    assert runc_ids(state_root) == [] and owner_record(state_root, id) == ""


def test_runc_errors_are_lxcri_errors(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    id = new_id("err")
    log = state_root / "log.json"
    bundle = make_bundle("/no/such/program")
    proc = cli("--log", str(log), "--log-format", "json", "run", "--runtime", "runc", "-b",
               str(bundle), id)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "/no/such/program" in lines[0], proc.stderr
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and "/no/such/program" in entry["msg"]
    assert "runc" in entry["msg"]
    # Nothing half-created: no container, no record.
    assert cli("list", "-q").stdout == "" and owner_record(state_root, id) == ""
    # A command on a runc container that fails reports runc's reason as one line.
    other = new_id("err2")
    cli("create", "--runtime", "runc", "-b", str(make_bundle("sleep", "60")), other, check=True)
    proc = cli("resume", other)  # it is not paused
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "runc" in proc.stderr and other in proc.stderr


def test_list_merges_backends(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    on_crun, on_runc = new_id("a-crun"), new_id("b-runc")
    cli("create", "-b", str(make_bundle("sleep", "60")), on_crun, check=True)
    cli("create", "--runtime", "runc", "-b", str(make_bundle("sleep", "60")), on_runc, check=True)
    table = cli("list", check=True).stdout.splitlines()
    assert table[0].split()[-1] == "RUNTIME"
    rows = {line.split()[0]: line.split()[-1] for line in table[1:]}
    assert rows == {on_crun: "crun", on_runc: "runc"}
    listed = json.loads(cli("list", "--format", "json", check=True).stdout)
    assert {e["id"]: e["runtime"] for e in listed} == rows
    assert all(e["status"] == "created" for e in listed)
    # delete --regex reaches both backends.
    cli("delete", "--force", "--regex", "^lxcri-test-", check=True)
    assert cli("list", "-q").stdout == ""
    assert runc_ids(state_root) == [] and crun_ids(state_root) == []


def test_id_taken_on_another_backend(cli: Cli, make_bundle: Any, state_root: Path) -> None:
    id = new_id("dup")
    cli("create", "--runtime", "runc", "-b", str(make_bundle("sleep", "60")), id, check=True)
    proc = cli("create", "-b", str(make_bundle("sleep", "60")), id)
    assert proc.returncode == 1 and "already exists" in proc.stderr and "runc" in proc.stderr
    assert crun_ids(state_root) == []
    cli("delete", "--force", id, check=True)
    # A record whose container vanished behind lxcri's back does not block the id.
    cli("create", "--runtime", "runc", "-b", str(make_bundle("sleep", "60")), id, check=True)
    subprocess.run([RUNC, "--root", str(state_root / ".lxcri" / "runc"), "delete", "--force", id],
                   check=True)
    cli("create", "-b", str(make_bundle("sleep", "60")), id, check=True)
    assert crun_ids(state_root) == [id] and owner_record(state_root, id) == "crun"


# ---------------------------------------------------------------- routing

def test_routing_by_config_file(cli: Cli, make_bundle: Any, state_root: Path, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, '[[routing]]\npattern = "lxcri-test-db-*"\nruntime = "runc"\n'
                 '[[routing]]\npattern = "^lxcri-test-[0-9a-f]{4}-rx$"\nruntime = "runc"\n',
                 monkeypatch)
    db, rx, plain = new_id("db"), f"lxcri-test-{os.urandom(2).hex()}-rx", new_id("web")
    for id in (db, rx, plain):
        cli("create", "-b", str(make_bundle("sleep", "60")), id, check=True)
    assert sorted(runc_ids(state_root)) == sorted([db, rx])
    assert crun_ids(state_root) == [plain]
    # The rules decide at create only: with them gone, the owners still serve their ids.
    monkeypatch.setenv("LXCRI_CONFIG", str(tmp_path / "empty-lxcri.toml"))
    for id in (db, rx, plain):
        cli("start", id, check=True)
        assert cli.state(id)["status"] == "running"
        cli("delete", "--force", id, check=True)
    assert runc_ids(state_root) == [] and crun_ids(state_root) == []


def test_default_runtime_from_config(cli: Cli, make_bundle: Any, state_root: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, 'default_runtime = "runc"\n', monkeypatch)
    id = new_id("dflt")
    proc = cli("run", "-b", str(make_bundle("sh", "-c", "exit 5")), id)
    assert proc.returncode == 5, proc.stderr
    id2 = new_id("dflt")
    cli("create", "-b", str(make_bundle("sleep", "60")), id2, check=True)
    assert runc_ids(state_root) == [id2]


def test_routing_by_annotation_and_precedence(cli: Cli, make_bundle: Any, state_root: Path,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, '[[routing]]\npattern = "lxcri-test-*"\nruntime = "crun"\n'
                 '[[routing]]\npattern = "web-*"\nruntime = "runc"\n', monkeypatch)

    def annotate(values: Dict[str, str]) -> Any:
        return lambda spec: spec.setdefault("annotations", {}).update(values)

    by_annotation, by_flag, by_name = new_id("ann"), new_id("flag"), "lxcri-x-" + new_id()
    cli("create", "-b", str(make_bundle("sleep", "60", edit=annotate({"lxcri.runtime": "runc"}))),
        by_annotation, check=True)  # the annotation beats the rule sending lxcri-test-* to crun
    cli("create", "--runtime", "crun", "-b",
        str(make_bundle("sleep", "60", edit=annotate({"lxcri.runtime": "runc"}))), by_flag,
        check=True)  # --runtime beats the annotation
    cli("create", "-b", str(make_bundle("sleep", "60", edit=annotate({"lxcri.name": "web-7"}))),
        by_name, check=True)  # a rule matches the container's name, not only its id
    assert sorted(runc_ids(state_root)) == sorted([by_annotation, by_name])
    assert crun_ids(state_root) == [by_flag]
    # LXCRI_RUNTIME works like --runtime.
    env_id = new_id("env")
    cli("create", "-b", str(make_bundle("sleep", "60")), env_id, check=True,
        env={**os.environ, "LXCRI_RUNTIME": "runc"})
    assert env_id in runc_ids(state_root)
    bad = cli("create", "-b", str(make_bundle("sleep", "60", edit=annotate(
        {"lxcri.runtime": "docker"}))), new_id("bad"))
    assert bad.returncode == 1 and "unknown runtime 'docker' (from annotation lxcri.runtime)" \
        in bad.stderr


@pytest.mark.parametrize("text,expected", [
    ('[runtimes.runc]\npath = "/usr/sbin/runc"\nbinary = "x"\n', ":3: unknown key 'binary'"),
    ('[[routing]]\npattern = "^db-[$"\nruntime = "runc"\n', ":2: bad pattern '^db-[$'"),
    ('[[routing]]\npattern = "db-*"\nruntime = "docker"\n', ":3: unknown runtime 'docker'"),
    ('default_runtime = "crun"\n[[routing]\n', ":2: TOML syntax error"),
    ('[runtimes.kvm]\n', ":1: unknown runtime [runtimes.kvm]"),
    ('default_runtime = 3\n', ":1: unknown runtime 3"),
], ids=["unknown-key", "bad-regex", "unknown-runtime", "syntax", "unknown-table", "bad-default"])
def test_bad_config_file_is_one_line(cli: Cli, make_bundle: Any, state_root: Path,
                                     tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     text: str, expected: str) -> None:
    path = write_config(tmp_path, text, monkeypatch)
    proc = cli("run", "-b", str(make_bundle("true")), new_id("cfg"))
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{path}{expected}" in proc.stderr, proc.stderr
    assert cli("list", "-q").stdout == "" and crun_ids(state_root) == []
    info = cli("info")  # info still answers, and shows the problem
    assert info.returncode == 0 and "ERROR" in info.stdout


def test_missing_config_named_by_env_is_an_error(cli: Cli, make_bundle: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXCRI_CONFIG", str(tmp_path / "nope.toml"))
    proc = cli("run", "-b", str(make_bundle("true")), new_id("cfg"))
    assert proc.returncode == 1
    assert proc.stderr == f"lxcri: config file {tmp_path / 'nope.toml'} (from $LXCRI_CONFIG) " \
        "does not exist: create it or unset LXCRI_CONFIG\n"


def test_backends_not_there_fail_clearly(cli: Cli, make_bundle: Any, state_root: Path,
                                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, '[runtimes.vm]\nqemu = "/nonexistent/qemu"\n', monkeypatch)
    id = new_id("vm")
    proc = cli("run", "--runtime", "vm", "-b", str(make_bundle("true")), id)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lxcri: cannot run container `{id}` on the vm runtime "
                                  "(chosen by --runtime): [runtimes.vm] qemu = "
                                  "'/nonexistent/qemu' is not an executable file")
    assert proc.stderr.count("\n") == 1
    assert owner_record(state_root, id) == "" and cli("list", "-q").stdout == ""


# ---------------------------------------------------------------- info

def test_info_text_and_json(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, '[[routing]]\npattern = "db-*"\nruntime = "runc"\n'
                        '[runtimes.lxc.proxmox]\ntoken_secret = "s3cr3t-value"\n', monkeypatch)
    doc = json.loads(cli("info", "--format", "json", check=True).stdout)
    runtimes = {r["name"]: r for r in doc["runtimes"]}
    assert list(runtimes) == ["crun", "runc", "lxc", "vm"]
    assert runtimes["crun"]["available"] and "libcrun" in runtimes["crun"]["detail"]
    assert runtimes["runc"]["available"] and RUNC in runtimes["runc"]["detail"]
    assert runtimes["vm"]["detail"]  # available once `make venv` built its guest (test_vm)
    assert doc["config"]["path"] == str(path) and doc["config"]["source"] == "LXCRI_CONFIG"
    assert doc["config"]["routing"] == [{"pattern": "db-*", "runtime": "runc"}]
    assert doc["state_root"] == str(cli.root)
    assert doc["cgroups"]["mode"] in ("v1", "v2", "hybrid")
    assert doc["libcrun"]
    text = cli("info", check=True).stdout
    assert "s3cr3t-value" not in text and "s3cr3t-value" not in json.dumps(doc)
    assert f"config file: {path}" in text
    assert f"{path}:2: id or name matches glob 'db-*' -> runc" in text
    assert "built-in: id matches glob 'lxc-*' -> lxc" in text
    assert f"cgroups: {doc['cgroups']['mode']}" in text


# ---------------------------------------------------------------- the library

def test_library_runs_on_runc_and_lists_runtimes(state_root: Path, make_bundle: Any,
                                                 tmp_path: Path) -> None:
    import lxcri

    out = tmp_path / "out"
    id, kept = new_id("lib"), new_id("lib")
    with lxcri.Runtime(root=str(state_root)) as rt, open(out, "w") as f:
        code = rt.run(id, str(make_bundle("sh", "-c", "echo via-runc; exit 4")), runtime="runc",
                      stdout=f, stderr=f)
        assert code == 4
        rt.create(kept, str(make_bundle("sleep", "60")), runtime="runc", stdout=f, stderr=f)
        assert [(s.id, s.runtime, s.status) for s in rt.list()] == [(kept, "runc", "created")]
        assert rt.owner(kept) == "runc" and rt.state(kept).runtime == "runc"
        assert rt.choose_runtime("lxc-x", str(make_bundle("true"))).runtime == "lxc"
        rt.delete(kept, force=True)
        assert rt.list() == []
    assert out.read_text() == "via-runc\n"


# ---------------------------------------------------------------- fallback

@pytest.fixture(params=["missing", "broken"])
def broken_lxcri(tmp_path: Path, request: pytest.FixtureRequest) -> List[str]:
    """The installed lxcri package copied without libcrun.so.0, or with one that is not a
    library (the command learns that only from its zygote's loader): lxcri._crun cannot
    load. Returns the argv prefix that runs this copy's CLI."""
    import lxcri

    copy = tmp_path / "site"
    shutil.copytree(os.path.dirname(lxcri.__file__), copy / "lxcri")
    libs = Path(os.path.dirname(lxcri.__file__)).parent / "lxcri.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy / "lxcri.libs")
    (copy / "lxcri" / "libcrun.so.0").unlink()
    if request.param == "broken":
        (copy / "lxcri" / "libcrun.so.0").write_text("not a library\n")
    boot = (f"import sys; sys.path.insert(0, {str(copy)!r}); "
            "from lxcri.__main__ import main; sys.exit(main())")
    return [sys.executable, "-P", "-c", boot]


def run_broken(argv: List[str], root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Files, not pipes: a created container keeps the caller's stdio open.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.run([*argv, "--root", str(root), *args], stdout=out, stderr=err,
                              text=True, stdin=subprocess.DEVNULL, timeout=60, check=False)
        out.seek(0)
        err.seek(0)
        proc.stdout, proc.stderr = out.read(), err.read()
    return proc


def test_fallback_to_the_crun_binary(broken_lxcri: List[str], state_root: Path,
                                     make_bundle: Any, cli: Cli) -> None:
    if shutil.which("crun") is None:
        pytest.skip("crun is not installed (make test installs it)")
    id = new_id("fb")
    proc = run_broken(broken_lxcri, state_root, "run", "-b",
                      str(make_bundle("sh", "-c", "echo fell-back; exit 6")), id)
    assert proc.returncode == 6, proc.stderr
    assert proc.stdout == "fell-back\n"
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("lxcri: warning: the embedded crun "
                                                         "backend cannot load")
    assert "using the crun binary" in warnings[0]
    # A container the crun binary created is the embedded crun's too (same state format).
    kept = new_id("fb")
    run_broken(broken_lxcri, state_root, "create", "-b", str(make_bundle("sleep", "60")), kept)
    assert crun_ids(state_root) == [kept]
    assert cli.state(kept)["status"] == "created"
    assert run_broken(broken_lxcri, state_root, "start", kept).returncode == 0
    proc = run_broken(broken_lxcri, state_root, "exec", kept, "sh", "-c", "exit 4")
    assert proc.returncode == 4, proc.stderr
    assert proc.stderr.count("\n") == 1 and "using the crun binary" in proc.stderr
    info = json.loads(run_broken(broken_lxcri, state_root, "info", "-f", "json").stdout)
    crun = next(r for r in info["runtimes"] if r["name"] == "crun")
    assert crun["available"] and "crun binary" in crun["detail"] and info["libcrun"] is None


def test_fallback_to_runc_and_explicit_crun_refused(broken_lxcri: List[str], state_root: Path,
                                                    make_bundle: Any, cli: Cli, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # No crun binary either: the config points crun's path nowhere.
    write_config(tmp_path, '[runtimes.crun]\npath = "/nonexistent/crun"\n', monkeypatch)
    id = new_id("fbr")
    proc = run_broken(broken_lxcri, state_root, "create", "-b",
                      str(make_bundle("sleep", "60")), id)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("\n") == 1 and "runs on runc" in proc.stderr
    assert runc_ids(state_root) == [id] and owner_record(state_root, id) == "runc"
    assert cli.state(id)["status"] == "created"  # the real lxcri finds it through the record
    explicit = new_id("fbx")
    proc = run_broken(broken_lxcri, state_root, "run", "--runtime", "crun", "-b",
                      str(make_bundle("true")), explicit)
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"lxcri: cannot run container `{explicit}` on the crun "
                                  "runtime (chosen by --runtime): the crun backend is unavailable")
    assert proc.stderr.count("\n") == 1
    assert owner_record(state_root, explicit) == ""
