"""The wheel stands alone: installed into a new virtualenv it runs containers with the
crun source and build trees out of sight, loading the libcrun.so.0 it carries."""
from __future__ import annotations

import glob
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support import new_id, state_left

pytestmark = [pytest.mark.integration, pytest.mark.core]

REPO = Path(__file__).resolve().parents[2]
# make builds the wheel beside the venv it installs it into (Makefile: DIST).
DIST = Path(sys.prefix) / ".dist"


def test_wheel_runs_containers_without_the_crun_trees(tmp_path: Path, make_bundle: Any,
                                                      state_root: Path) -> None:
    wheels = glob.glob(str(DIST / "lxcri-*.whl"))
    if not wheels:
        pytest.skip(f"no wheel in {DIST}: `make test` builds it")
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", wheels[0]], check=True,
                   timeout=600, stdout=subprocess.DEVNULL)
    ext = glob.glob(str(venv / "lib" / "python*" / "site-packages" / "lxcri" / "_crun*.so"))[0]
    ldd = subprocess.run(["ldd", ext], capture_output=True, text=True, check=True).stdout
    libcrun = [line for line in ldd.splitlines() if "libcrun.so.0" in line]
    assert libcrun and str(Path(ext).parent / "libcrun.so.0") in libcrun[0], ldd

    crun_tree = REPO / "build" / "crun"
    bundle = make_bundle("sh", "-c", "echo wheel-ok; exit 4")
    script = (f"mount -t tmpfs none {crun_tree} && test ! -e {crun_tree}/src && "
              f"exec {venv}/bin/lxcri --root {state_root} run --bundle {bundle} {new_id('whl')}")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout) == (4, "wheel-ok\n"), proc.stderr
    assert state_left(state_root) == []
