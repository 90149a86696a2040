"""Ownership records under concurrency: claims racing releases that remove the emptied
record directories (what 8 threads of Runtime.run on a fresh root do); and when those
directories go: at once for a command, at close() for a library Runtime."""
from __future__ import annotations

import threading
from pathlib import Path

from lxcri import Runtime
from lxcri.dispatch import Owners


def test_claims_and_releases_race_without_errors(tmp_path: Path) -> None:
    owners = Owners(str(tmp_path))
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        start.wait()
        for i in range(1500):
            id = f"c{n}-{i}"
            try:
                assert owners.claim(id, "crun")
                assert owners.get(id) == "crun"
                owners.release(id)
            except BaseException as exc:  # noqa: BLE001 - what the test looks at
                failures.append(exc)
                return

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []
    assert list(tmp_path.iterdir()) == []  # the last release left the root as it found it


def _tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_kept_directories_stay_until_tidied(tmp_path: Path) -> None:
    owners = Owners(str(tmp_path), keep_dirs=True)
    assert owners.claim("a", "crun") and owners.claim("b", "crun")
    owners.release("a")
    owners.tidy()  # b still has its record
    assert owners.ids() == ["b"]
    owners.release("b")
    assert _tree(tmp_path) == [".lxcri", ".lxcri/owners"]
    owners.tidy()
    assert _tree(tmp_path) == []


def test_a_library_runtime_keeps_them_until_close_and_a_command_not_at_all(
        tmp_path: Path) -> None:
    root = tmp_path / "root"
    library = Runtime(str(root))  # the library's (isolate=True); nothing starts before a call
    assert library._owners.claim("a", "crun")
    library._owners.release("a")
    assert _tree(root) == [".lxcri", ".lxcri/owners"]
    library.close()
    assert _tree(root) == []
    command = Runtime(str(root), isolate=False)  # what the CLI makes
    assert command._owners.claim("b", "crun")
    command._owners.release("b")
    assert _tree(root) == []
