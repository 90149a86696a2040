"""What every part of the harness shares: HarnessError and the progress log (stderr)."""
from __future__ import annotations

import sys


class HarnessError(Exception):
    """The harness itself cannot run (exit status 2)."""


def log(msg: str) -> None:
    print("conformance: " + msg, file=sys.stderr, flush=True)
