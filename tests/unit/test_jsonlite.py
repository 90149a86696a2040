"""lxcri.jsonlite against json.loads: the same values, the same errors."""
from __future__ import annotations

import json
import math

import pytest

from lxcri import jsonlite

TYPE_CHECKING = False
if TYPE_CHECKING:
    import random

GOOD = [b'{"a": 1, "b": [1, 2.5, "x", null, true, false], "c": {"d": "\\u00e9"}}',
        b"  [1, 2]  \n", b'"s"', b"1e400", b"-0", b"12345678901234567890", b"\xef\xbb\xbf{}",
        '{"a": 1}'.encode("utf-16"), '{"k": "v\\u0000"}', b'{"a": 1, "a": 2}']
BAD = [b'{"a":1} x', b"", b"   ", b'{"a":', b"\xff", b"[" * 100000, b"{'a': 1}", b"[1,]"]


@pytest.mark.parametrize("doc", GOOD)
def test_same_values(doc: bytes | str) -> None:
    assert repr(jsonlite.loads(doc)) == repr(json.loads(doc))


def test_constants() -> None:
    assert math.isnan(jsonlite.loads(b"NaN")) and jsonlite.loads(b"[-Infinity]") == [-math.inf]


@pytest.mark.parametrize("doc", BAD)
def test_same_errors(doc: bytes) -> None:
    with pytest.raises(Exception) as ours:
        jsonlite.loads(doc)
    with pytest.raises(Exception) as theirs:
        json.loads(doc)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_errors_before_json_is_imported() -> None:
    """The scanner's errors need json.decoder loaded: in a process that has not imported
    json yet, a document cut inside a string or an object still gives json's error."""
    import subprocess
    import sys

    code = ("import sys; from lxcri import jsonlite\n"
            "assert 'json.decoder' not in sys.modules\n"
            "for doc in ('{\"pid\": 1, \"x', '{\"a\": [1, {\"b', '\"abc'):\n"
            "    try:\n        jsonlite.loads(doc)\n"
            "    except ValueError as exc:\n        print(type(exc).__name__)\n")
    source = str(__import__("pathlib").Path(__file__).parents[2])  # this tree's lxcri
    out = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": source})
    assert out.stdout.split() == ["JSONDecodeError"] * 3, out.stderr


def _random_document(rng: "random.Random", depth: int = 0) -> object:
    kinds = ["str", "int", "none", "bool"] + (["dict", "list"] if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        return "".join(rng.choice('ab "\\/\n\t\x01é✓\U0001f600') for _ in range(rng.randrange(6)))
    if kind == "int":
        return rng.randrange(-10**20, 10**20)
    if kind == "none":
        return None
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "dict":
        return {str(_random_document(rng, 99)): _random_document(rng, depth + 1)
                for _ in range(rng.randrange(4))}
    return [_random_document(rng, depth + 1) for _ in range(rng.randrange(4))]


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_dumps_writes_what_json_dumps_writes(ensure_ascii: bool) -> None:
    import json
    import random

    rng = random.Random(11)
    for _ in range(2000):
        doc = _random_document(rng)
        assert jsonlite.dumps(doc, ensure_ascii=ensure_ascii) == json.dumps(
            doc, indent=4, ensure_ascii=ensure_ascii), doc


def test_dumps_leaves_other_values_to_json() -> None:
    import json

    for doc in ({"a": 1.5}, [float("nan")], {1: "int key"}, {"t": (1, 2)}):
        assert jsonlite.dumps(doc) == json.dumps(doc, indent=4)
