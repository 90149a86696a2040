"""lxcri.posixos answers as os and os.path do: each case is put to both."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lxcri import posixos

REPO = Path(__file__).resolve().parents[2]

PATHS = ["", "/", "//", "///", "a", "a/", "a//", "/a", "//a", "///a", "a/b", "a/b/",
         "/a/b//", ".", "./", "..", "../", "../..", "a/..", "a/../..", "/..", "/../a",
         "//../a", "a/./b", "a/../b/../c", "../a/../../b", "/a/b/../../..", "a//b///c",
         "...", ".a/..b/", "/x/./../y/.", "é/ü", "a\udcff/b"]


@pytest.mark.parametrize("path", PATHS)
def test_the_pure_path_functions_answer_as_os_path(path: str) -> None:
    assert posixos.dirname(path) == os.path.dirname(path)
    assert posixos.normpath(path) == os.path.normpath(path)
    assert posixos.isabs(path) == os.path.isabs(path)
    assert posixos.abspath(path) == os.path.abspath(path)
    for other in PATHS[:12]:
        assert posixos.join(path, other) == os.path.join(path, other)
        assert posixos.join(path, other, path) == os.path.join(path, other, path)
    assert posixos.join(path) == os.path.join(path)


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Directories, files and links of every kind the resolution meets; cwd inside."""
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "f").write_text("")
    links = {"rel": "d/e", "abs": str(tmp_path / "d"), "chain": "rel", "up": "d/e/../..",
             "loop1": "loop2", "loop2": "loop1", "self": "self", "gone": "nowhere/x",
             "file": "d/f", "dots": "../" + tmp_path.name + "/rel", "root": "/",
             "inner": "chain/../f", "deep": "loop1/x"}
    for name, target in links.items():
        (tmp_path / name).symlink_to(target)
    (tmp_path / "d" / "e" / "back").symlink_to("../../chain")
    monkeypatch.chdir(tmp_path / "d")
    return tmp_path


RESOLVED = ["rel", "abs", "chain", "up", "loop1", "loop1/x", "self", "self/..", "gone",
            "gone/..", "file", "file/x", "dots", "root", "root/..", "inner", "deep",
            "rel/back", "rel/back/back", "rel/back/..", "abs/e/../../chain/..", "missing",
            "missing/../rel", "rel/", "chain//.", "d/e/back/../f", "../x", ""]


@pytest.mark.parametrize("name", RESOLVED)
def test_realpath_resolves_as_os_path(tree: Path, name: str) -> None:
    for path in (f"{tree}/{name}", f"../{name}", f"{tree}//{name}/"):
        assert posixos.realpath(path) == os.path.realpath(path), path


def test_the_file_tests_answer_as_os_path(tree: Path) -> None:
    for name in RESOLVED + ["d", "d/f", "d/e", "\0", "d/\0"]:
        path = f"{tree}/{name}"
        for mine, theirs in ((posixos.exists, os.path.exists), (posixos.lexists, os.path.lexists),
                             (posixos.isdir, os.path.isdir), (posixos.isfile, os.path.isfile)):
            assert mine(path) == theirs(path), (mine.__name__, path)


def test_makedirs_makes_what_os_makedirs_makes(tmp_path: Path) -> None:
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    old = os.umask(0o022)
    try:
        posixos.makedirs(f"{mine}/a/b/c", 0o700)
        os.makedirs(f"{theirs}/a/b/c", 0o700, exist_ok=True)
        for sub in ("a", "a/b", "a/b/c"):
            assert (mine / sub).stat().st_mode == (theirs / sub).stat().st_mode, sub
        posixos.makedirs(f"{mine}/a/b/c", 0o700)  # there already: fine
        posixos.makedirs(f"{mine}/a/./d/", 0o700)
        assert (mine / "a" / "d").is_dir()
    finally:
        os.umask(old)
    (mine / "file").write_text("")
    with pytest.raises(FileExistsError):
        posixos.makedirs(f"{mine}/file")
    with pytest.raises(NotADirectoryError):
        posixos.makedirs(f"{mine}/file/x")


def test_the_environment_is_os_environs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LXCRI_TEST_POSIXOS", "välue")
    assert posixos.getenv("LXCRI_TEST_POSIXOS") == os.environ["LXCRI_TEST_POSIXOS"] == "välue"
    assert posixos.getenv("LXCRI_TEST_POSIXOS_NOT_SET") is None
    assert posixos.popenv("LXCRI_TEST_POSIXOS") == "välue"
    assert "LXCRI_TEST_POSIXOS" not in os.environ
    assert posixos.popenv("LXCRI_TEST_POSIXOS", "none") == "none"
    # and a child does not get it: the C environment lost it too
    monkeypatch.setenv("LXCRI_TEST_POSIXOS", "x")
    posixos.popenv("LXCRI_TEST_POSIXOS")
    out = subprocess.run(["/bin/sh", "-c", 'echo "${LXCRI_TEST_POSIXOS-unset}"'],
                         capture_output=True, text=True, check=True, env=None).stdout
    assert out == "unset\n"


def test_importing_it_imports_no_os() -> None:
    done = subprocess.run([sys.executable, "-I", "-S", "-c",
                           f"import sys; sys.path.append({str(REPO)!r}); import lxcri.posixos; "
                           "print('os' in sys.modules)"], capture_output=True, text=True)
    assert done.stdout == "False\n", done.stderr


def test_path_like_objects_and_bytes_are_taken_as_their_str(tree: Path) -> None:
    """The Runtime passes on what its caller gave (a pathlib.Path for a bundle, say), as
    os.path took it; bytes come back as str, decoded as os.fsdecode does."""
    for given in (tree / "rel", os.fsencode(tree / "rel"), tree / "é"):
        text = os.fsdecode(given)
        assert posixos.realpath(given) == os.path.realpath(text)
        assert posixos.abspath(given) == os.path.abspath(text)
        assert posixos.dirname(given) == os.path.dirname(text)
        assert posixos.join(given, Path("x")) == os.path.join(text, "x")
        assert posixos.isabs(given) and posixos.isdir(given) == os.path.isdir(text)
        assert posixos.exists(given) == os.path.exists(text)
