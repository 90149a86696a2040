"""The library helper's error protocol: an exception raised in the helper comes back as
the same class, with its attributes and builtin bases (lxcri.isolation)."""
from __future__ import annotations

import json

import pytest

from lxcri import errors
from lxcri.isolation import _decode_error, _encode_error


def round_trip(exc: BaseException) -> errors.LxcriError:
    # Through JSON, as the socket carries it.
    return _decode_error(json.loads(json.dumps(_encode_error(exc))))


ALL_CLASSES = [c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, errors.LxcriError)]


def test_every_lxcri_error_class_lives_in_errors() -> None:
    import lxcri

    names = {c.__name__ for c in ALL_CLASSES}
    assert {"ConfigFileError", "HelperError", "ProxmoxError", "ContainerNotFound"} <= names
    assert all(getattr(lxcri, name) is getattr(errors, name) for name in names)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_each_class_comes_back_as_itself(cls: type) -> None:
    exc = cls("what went wrong")
    exc.errno, exc.container_id = 2, "c1"
    back = round_trip(exc)
    assert type(back) is cls
    assert (str(back), back.message, back.errno, back.container_id) == \
        ("what went wrong", "what went wrong", 2, "c1")


def test_builtin_bases_and_attributes_survive() -> None:
    back = round_trip(errors.ContainerNotFound("no such container", container_id="x"))
    assert isinstance(back, LookupError)
    back = round_trip(errors.ConfigFileError("lxcri.toml:3: unknown key"))
    assert isinstance(back, ValueError)
    back = round_trip(errors.ProxmoxError("CT 101 does not exist"))
    assert isinstance(back, errors.ProxmoxError) and back.missing is True
    shown = errors.LxcriError("runc said it already")
    shown.shown = True
    assert round_trip(shown).shown is True


def test_a_class_this_side_does_not_know_keeps_its_builtin_bases() -> None:
    wire = {"type": "NewerError", "message": "from a newer helper", "errno": None,
            "container_id": None, "attrs": {"detail": 7}, "builtins": ["LookupError"]}
    back = _decode_error(wire)
    assert isinstance(back, errors.LxcriError) and isinstance(back, LookupError)
    assert (type(back).__name__, str(back), back.detail) == \
        ("NewerError", "from a newer helper", 7)
    assert type(_decode_error({"type": "Nope", "message": "m"})) is errors.LxcriError


def test_a_python_error_in_the_helper_is_an_internal_error() -> None:
    back = round_trip(RecursionError("maximum recursion depth exceeded"))
    assert type(back) is errors.LxcriError
    assert str(back) == "internal error: RecursionError: maximum recursion depth exceeded"
