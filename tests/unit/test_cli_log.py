"""Tests of the --log file without root: every error lxcri reports reaches it as engines read it, and stderr too."""
from __future__ import annotations

import datetime
import json
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from lxcri import __main__ as entry
from lxcri import cli, commands
from lxcri.errors import ContainerNotFound, ContainerStateError


@pytest.fixture(autouse=True)
def _no_quick_way(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests fake the runtime: the quick way would answer `state c1` from the real
    # default root whenever a container c1 exists on the machine.
    from lxcri.cli import quick

    monkeypatch.setattr(quick, "run", lambda args: None)


class FailingRuntime:
    """TEST DOUBLE for lxcri.runtime.Runtime: every call raises the error it was given; records the calls."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[tuple[Any, ...]] = []

    def state_json(self, container_id: str) -> str:
        self.calls.append(("state_json", container_id))
        raise self.error

    def delete(self, container_id: str, force: bool = False) -> None:
        self.calls.append(("delete", container_id, force))
        raise self.error

    def list(self) -> list[Any]:
        from types import SimpleNamespace

        return [SimpleNamespace(id="a1"), SimpleNamespace(id="a2")]

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def no_seal(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real seal remaps or re-executes the process: here that would be pytest itself.
    monkeypatch.setattr(entry, "seal", lambda debug=False: None)


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> FailingRuntime:
    fake = FailingRuntime(ContainerNotFound("container 'c1' does not exist"))
    monkeypatch.setattr(commands, "open_runtime", lambda options: fake)
    return fake


def read_lines(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "every entry is a whole line"
    return text.splitlines()


def parse_time(stamp: str) -> datetime.datetime:
    """An RFC 3339 time in UTC ending in Z, as crun writes it; fails the test otherwise."""
    assert stamp.endswith("Z"), stamp
    parsed = datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
    return parsed.replace(tzinfo=datetime.timezone.utc)


def assert_recent(stamp: str) -> None:
    age = datetime.datetime.now(datetime.timezone.utc) - parse_time(stamp)
    assert datetime.timedelta(seconds=-1) < age < datetime.timedelta(seconds=60), stamp


@pytest.mark.parametrize("main", [entry.main, cli.main], ids=["fast", "typer"])
def test_json_log_gets_one_object_per_error(main: Callable[[list[str]], int], failing: FailingRuntime,
                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    assert main(["--log", str(log), "--log-format", "json", "state", "c1"]) == 1
    assert capsys.readouterr() == ("", "lxcri: container 'c1' does not exist\n")
    lines = read_lines(log)
    assert len(lines) == 1
    entry_ = json.loads(lines[0])
    assert sorted(entry_) == ["level", "msg", "time"]
    assert (entry_["msg"], entry_["level"]) == ("container 'c1' does not exist", "error")
    assert_recent(entry_["time"])
    assert failing.calls == [("state_json", "c1")]


def test_json_log_is_appended_to(failing: FailingRuntime, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "oci-log"
    log.write_text('{"msg": "an earlier line", "level": "error", "time": "2024-01-01T00:00:00.000000Z"}\n')
    for _ in range(2):
        assert entry.main(["--log-format=json", f"--log=file:{log}", "state", "c1"]) == 1
    capsys.readouterr()
    lines = read_lines(log)
    assert [json.loads(line)["msg"] for line in lines] == [
        "an earlier line", "container 'c1' does not exist", "container 'c1' does not exist"]


def test_text_log_gets_time_level_and_message(failing: FailingRuntime, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.txt"
    assert entry.main(["--log", str(log), "state", "c1"]) == 1
    assert capsys.readouterr().err == "lxcri: container 'c1' does not exist\n"
    (line,) = read_lines(log)
    stamp, rest = line.split(" ", 1)
    assert rest == "error: container 'c1' does not exist"
    assert_recent(stamp)


def test_a_message_of_several_lines_is_one_log_entry(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    fake = FailingRuntime(ContainerStateError("container 'c1' is running:\n  stop it first\n"))
    monkeypatch.setattr(commands, "open_runtime", lambda options: fake)
    log = tmp_path / "log.json"
    assert entry.main(["--log", str(log), "--log-format", "json", "state", "c1"]) == 1
    assert capsys.readouterr().err == "lxcri: container 'c1' is running: stop it first\n"
    (line,) = read_lines(log)
    assert json.loads(line)["msg"] == "container 'c1' is running: stop it first"


@pytest.mark.parametrize("where", ["missing-dir/log.json", "."])
def test_a_log_that_cannot_be_opened_still_leaves_stderr(where: str, failing: FailingRuntime, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / where
    assert entry.main(["--log", str(log), "--log-format", "json", "state", "c1"]) == 1
    assert capsys.readouterr() == ("", "lxcri: container 'c1' does not exist\n")
    assert not (tmp_path / "missing-dir").exists()


def test_without_log_nothing_is_written(failing: FailingRuntime, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert entry.main(["--log-format", "json", "state", "c1"]) == 1
    assert capsys.readouterr().err == "lxcri: container 'c1' does not exist\n"
    assert os.listdir(tmp_path) == []


def test_internal_errors_are_logged_too(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "open_runtime", lambda options: FailingRuntime(RuntimeError("boom")))
    log = tmp_path / "log.json"
    assert entry.main(["--log", str(log), "--log-format", "json", "state", "c1"]) == 1
    assert capsys.readouterr().err == "lxcri: internal error: RuntimeError: boom\n"
    (line,) = read_lines(log)
    assert json.loads(line)["msg"] == "internal error: RuntimeError: boom"


def test_each_failed_regex_delete_is_logged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(commands, "open_runtime", lambda options: FailingRuntime(ContainerStateError("busy")))
    log = tmp_path / "log.json"
    assert entry.main(["--log", str(log), "--log-format", "json", "delete", "-r", "^a"]) == 1
    assert capsys.readouterr().err == "lxcri: a1: busy\nlxcri: a2: busy\n"
    assert [json.loads(line)["msg"] for line in read_lines(log)] == ["a1: busy", "a2: busy"]


@pytest.mark.parametrize("argv", [
    ["create", "--bogus", "c1"],                     # the globals parse: their --log is exact
    ["--log-format", "json", "--bogus", "state", "c1"],  # they do not: --log found best effort
    ["exec", "-p", "f"],
])
def test_usage_errors_are_logged_when_the_log_was_given(argv: list[str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    full = ["--log", str(log), "--log-format", "json", *argv]
    assert entry.main(full) == 1
    err = capsys.readouterr().err
    assert err.startswith("lxcri: ") and err.count("\n") == 1
    (line,) = read_lines(log)
    logged = json.loads(line)
    assert logged["level"] == "error" and f"lxcri: {logged['msg']}\n" == err
    assert_recent(logged["time"])


def test_a_command_line_error_found_by_lxcri_is_logged(tmp_path: Path, failing: FailingRuntime,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "log.json"
    assert entry.main(["--log", str(log), "--log-format", "json", "exec", "c1"]) == 1
    assert capsys.readouterr().err == "lxcri: exec needs a command to run, or --process FILE\n"
    (line,) = read_lines(log)
    assert json.loads(line)["msg"] == "exec needs a command to run, or --process FILE"


def test_report_without_options_writes_only_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    commands.report("plain")
    assert capsys.readouterr() == ("", "lxcri: plain\n")
