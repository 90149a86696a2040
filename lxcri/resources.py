"""What `lxcri update` applies: an OCI LinuxResources object read from a file or standard
input, with the values of its flags (text from either parser) converted and set over
it, so that a bad value gets one message whichever parser read it. Apart from
lxcri.commands, which every command loads."""
from __future__ import annotations

import sys

from lxcri.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


def document(resources: Optional[str], **flags: Optional[str]) -> dict[str, Any]:
    """The LinuxResources to apply: the file `resources` names (- for standard input),
    else {}, with each flag given (its keyword, its text) set over it."""
    given = [(keyword, flags.get(keyword), section, field, convert)
             for keyword, section, field, convert in _FLAGS if flags.get(keyword) is not None]
    if resources is None and not given:
        raise InvalidArgument("update needs --resources FILE (or -) or at least one resource option")
    doc = read_resources(resources) if resources is not None else {}
    for keyword, text, section, field, convert in given:
        assert text is not None
        # The grammar spells each of these options as its keyword with dashes.
        option = "--" + keyword.replace("_", "-")
        block = doc.get(section)
        if block is None:
            block = doc[section] = {}
        elif not isinstance(block, dict):
            source = "standard input" if resources == "-" else resources
            raise InvalidArgument(f"cannot apply {option}: \"{section}\" in {source} is not a JSON object")
        block[field] = convert(option, text)
    return doc


def read_resources(path: str) -> dict[str, Any]:
    """The LinuxResources object in the file at path, or on stdin for `-`."""
    import json

    source = "standard input" if path == "-" else path
    try:
        if path == "-":
            if sys.stdin is None:
                raise InvalidArgument("--resources -: there is no standard input to read")
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as file:
                text = file.read()
        document = json.loads(text)
    except OSError as exc:
        raise InvalidArgument(f"cannot read resources from {source}: {exc.strerror or exc}") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both derive from it
        raise InvalidArgument(f"resources in {source} are not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"resources in {source} must be a JSON object (an OCI LinuxResources)")
    return document


# Binary multiples, as runc reads memory sizes (docker's units.RAMInBytes).
_BYTE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def _bytes(option: str, text: str) -> int:
    """A memory size: bytes, or with a k/m/g/t/p suffix (512m, 1.5g, 1GiB); -1 means unlimited."""
    if text == "-1":
        return -1
    number = text.lower()
    number = number.removesuffix("b")
    multiple = 1
    if number.endswith("i") and number[-2:-1] in _BYTE_UNITS:
        number = number[:-1]
    if number[-1:] in _BYTE_UNITS:
        multiple = _BYTE_UNITS[number[-1]]
        number = number[:-1]
    number = number.removesuffix(" ")
    whole, dot, fraction = number.partition(".")
    if not (_digits(whole) and (not dot or _digits(fraction))):
        raise InvalidArgument(f"invalid value '{text}' for {option}: expected a size in bytes such as "
                              "1048576, 512m or 1g")
    size = int(whole) * multiple
    if fraction:
        size += int(fraction) * multiple // 10 ** len(fraction)
    return size


def _unsigned(option: str, text: str) -> int:
    if not _digits(text):
        raise InvalidArgument(f"invalid value '{text}' for {option}: expected a non-negative integer")
    return int(text)


def _signed(option: str, text: str) -> int:
    if not _digits(text.removeprefix("-")):
        raise InvalidArgument(f"invalid value '{text}' for {option}: expected an integer")
    return int(text)


def _text(option: str, text: str) -> str:
    return text


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


# Each flag: its keyword, where it goes in LinuxResources, how its text is read.
_FLAGS = (
    ("memory", "memory", "limit", _bytes),
    ("memory_reservation", "memory", "reservation", _bytes),
    ("memory_swap", "memory", "swap", _bytes),
    ("cpu_shares", "cpu", "shares", _unsigned),
    ("cpu_quota", "cpu", "quota", _signed),
    ("cpu_period", "cpu", "period", _unsigned),
    ("cpu_rt_runtime", "cpu", "realtimeRuntime", _signed),
    ("cpu_rt_period", "cpu", "realtimePeriod", _unsigned),
    ("cpuset_cpus", "cpu", "cpus", _text),
    ("cpuset_mems", "cpu", "mems", _text),
    ("pids_limit", "pids", "limit", _signed),
    ("blkio_weight", "blockIO", "weight", _unsigned),
)
