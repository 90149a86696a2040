"""json.loads without importing json: CPython's C scanner (_json) driven directly.

`import json` costs a command several milliseconds (json.decoder and json.encoder
import re, which imports enum and functools). The parsing itself is done by _json
either way; only the Python around it is skipped here. Whatever the scanner does not
take cleanly (bad JSON, a BOM, trailing data, a missing _json) goes to json.loads, so
errors, and anything unusual, come out exactly as json would have them.
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Union

_WHITESPACE = " \t\n\r"
_CONSTANTS = {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}


class _Context:
    """What _json.make_scanner reads from a JSONDecoder: json.loads' defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__


_scanner: "Optional[Callable[[str, int], Any]]" = None


def _scan() -> "Optional[Callable[[str, int], Any]]":
    global _scanner
    if _scanner is None:
        try:
            import _json
        except ImportError:  # an interpreter without the C accelerator
            return None
        _scanner = _json.make_scanner(_Context())  # type: ignore[arg-type]  # duck-typed
    return _scanner


def loads(data: "Union[bytes, str]") -> "Any":
    """json.loads(data)."""
    scan = _scan()
    if scan is not None:
        try:
            text = data.decode("utf-8") if isinstance(data, bytes) else data
            start = len(text) - len(text.lstrip(_WHITESPACE))
            value, end = scan(text, start)
            if not text[end:].strip(_WHITESPACE):
                return value
        except (StopIteration, ValueError, RecursionError, SystemError):
            # json.loads says what is wrong (or copes: a BOM, UTF-16). SystemError: the
            # scanner raises its JSONDecodeError from json.decoder only if that module is
            # loaded already; before that, an error inside a string or an object comes out
            # as "returned NULL without setting an exception".
            pass
    import json

    return json.loads(data)


def dumps(value: "Any", *, indent: int = 4, ensure_ascii: bool = True) -> str:
    """json.dumps(value, indent=indent, ensure_ascii=ensure_ascii) for documents of dicts
    with str keys, lists, str, int, bool and None (what lxcri prints); anything else
    (floats, other types) goes to json.dumps."""
    try:
        from _json import encode_basestring, encode_basestring_ascii
    except ImportError:
        encode_basestring = encode_basestring_ascii = None  # type: ignore[assignment]
    quote = encode_basestring_ascii if ensure_ascii else encode_basestring
    if quote is None:
        import json

        return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)

    def dump(v: "Any", depth: int) -> str:
        if v is None:
            return "null"
        if v is True:
            return "true"
        if v is False:
            return "false"
        if type(v) is int:
            return int.__repr__(v)
        if isinstance(v, str):
            return quote(v)
        inner = "\n" + " " * (indent * (depth + 1))
        if isinstance(v, dict):
            if not v:
                return "{}"
            if not all(isinstance(k, str) for k in v):
                raise _Unplain
            return ("{" + ",".join(f"{inner}{quote(k)}: {dump(x, depth + 1)}"
                                   for k, x in v.items())
                    + "\n" + " " * (indent * depth) + "}")
        if isinstance(v, list):
            if not v:
                return "[]"
            return ("[" + ",".join(inner + dump(x, depth + 1) for x in v)
                    + "\n" + " " * (indent * depth) + "]")
        raise _Unplain

    try:
        return dump(value, 0)
    except (_Unplain, RecursionError):
        import json

        return json.dumps(value, indent=indent, ensure_ascii=ensure_ascii)


class _Unplain(Exception):
    """A value dumps leaves to json.dumps."""
