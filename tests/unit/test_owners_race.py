"""Ownership records under concurrency: claims racing releases that remove the emptied
record directories (what 8 threads of Runtime.run on a fresh root do)."""
from __future__ import annotations

import threading
from pathlib import Path

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
