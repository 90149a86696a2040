"""What lxcri.backends.crun.zygote makes of its zygote's first words (launcher/zygote.c's
READY event, or the loader's reason it could not load libcrun), over a real
SOCK_SEQPACKET pair: no zygote runs here (the integration tier's test_dispatch runs a
real one over a broken libcrun.so.0)."""
from __future__ import annotations

import os
import socket
from typing import Iterator

import pytest

from lxcri.backends.crun import zygote


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    yield ours, theirs
    ours.close()
    theirs.close()


READY = zygote.EVENT.pack(zygote.EV_READY, 1234, 0)


def test_a_ready_event_is_no_problem_and_a_text_is_the_loaders_reason(
        pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    assert zygote._unloaded(ours) is None  # nothing said yet: no reason
    theirs.send(READY)
    assert zygote._unloaded(ours) is None
    theirs.send(READY)
    theirs.send(b"/x/libcrun.so.0: file too short")
    assert zygote._unloaded(ours) == ("the embedded crun backend cannot load: "
                                      "/x/libcrun.so.0: file too short")


@pytest.mark.parametrize("words, problem", [
    (READY, None),
    (b"libyajl.so.2: cannot open shared object file: No such file or directory",
     "the embedded crun backend cannot load: libyajl.so.2: cannot open shared object file: "
     "No such file or directory"),
    (b"", "the embedded crun backend cannot load: the lxcri zygote exited before it loaded "
          "libcrun"),
])
def test_the_early_zygotes_first_words_decide_once(
        pair: tuple[socket.socket, socket.socket], monkeypatch: pytest.MonkeyPatch,
        words: bytes, problem: str | None) -> None:
    ours, theirs = pair
    ended: list[bool] = []
    monkeypatch.setattr(zygote, "_early", (os.getpid(), ours.fileno()))
    monkeypatch.setattr(zygote, "_early_said", None)
    monkeypatch.setattr(zygote, "end_early", lambda: ended.append(True))
    if words:
        theirs.send(words)
    else:
        theirs.close()  # it exited without a word
    assert zygote.early_problem() == problem
    assert ended == ([] if problem is None else [True])  # a failed one is reaped at once
    assert zygote.early_problem() == problem  # asked again: the same, nothing read
    assert os.get_blocking(ours.fileno())  # left blocking, for the request


def test_no_early_zygote_no_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(zygote, "_early", None)
    monkeypatch.setattr(zygote, "_early_said", None)
    assert zygote.early_problem() is None
    assert zygote._early_said is None  # not decided: a zygote started later is asked
