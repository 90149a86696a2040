"""What libcrun wrote to stderr during a call, and whether it shows as it comes: the
part of libcrun's messages that every call needs, success or not. Turning an error into
lxcri's exception is lxcri.backends.crun.failures, imported only when a call failed.

Both the binding (lxcri.backends.crun.binding, for a call made in this process) and
the zygote's answers (lxcri.backends.crun.zygote, a call made in another) end here, so
a command whose libcrun call runs in the zygote does not load libcrun at all.
"""
from __future__ import annotations

import posix
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import List, Optional, Sequence

_debug = False  # --debug: libcrun's messages are shown as they come


def set_debug(debug: bool) -> None:
    global _debug
    _debug = debug


def passes_through() -> bool:
    """Whether libcrun's messages show as they come (--debug), not only where an error
    needs them."""
    return _debug


class Logged:
    """What libcrun wrote to stderr during one call (text), and whether it already
    reached the caller's stderr as it came (with --debug, as crun shows it). show()
    writes what an error message does not already say."""

    __slots__ = ("text", "limits_failed", "_pass_through")

    def __init__(self, text: str = "", passed_through: Optional[bool] = None) -> None:
        self.text = text
        self.limits_failed = 0
        self._pass_through = _debug if passed_through is None else passed_through

    def lines(self) -> List[str]:
        return [line for line in self.text.splitlines() if line.strip()]

    def show(self, told: Sequence[str] = ()) -> None:
        """Write the kept messages to stderr, but those an error message already holds."""
        if self._pass_through:
            return
        rest = [line for line in self.lines() if line not in told]
        if rest:
            try:
                sys.stderr.flush()
                posix.write(2, ("\n".join(rest) + "\n").encode("utf-8", "replace"))
            except OSError:
                pass
