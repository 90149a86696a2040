"""What every part of the benchmark shares: the id prefix, the reap deadline, BenchError."""
from __future__ import annotations

PREFIX = "lxcri-bench-"
REAP_DEADLINE_S = 10.0


class BenchError(Exception):
    """Something the benchmark needs failed to run; the message says what."""
