"""Shared fixtures: busybox bundles, private state roots, the lxcri command, cleanup.

Integration tests run real containers as root. Every container id starts with
`lxcri-test-`, lives under a per-test state root, and is force-deleted by a
finalizer even when the test fails. Tests marked `core` may skip when something
is missing, but under CI=true such a skip is reported as a failure, so CI can
never pass by testing nothing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import pytest

from support import BUSYBOX, IN_CI, LXCRI, Cli, bundle_factory, needs_root


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "core: a core backend test; under CI=true a skip fails")
    config.addinivalue_line(
        "markers", "host_only: makes Debian roots or VMs of its own; not run inside the Debian 13 "
        "run of `make test` (LXCRI_NESTED), which the host's run already covers")


def _integration_tests_use_the_installed_wheel(items: list[pytest.Item]) -> None:
    """The integration tier tests the artifact users get, the installed wheel; the unit
    tier runs from a source tree too (`make unit`: no libcrun build needed)."""
    if not any("integration" in Path(str(item.path)).parts for item in items):
        return
    import lxcri

    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if os.path.dirname(os.path.dirname(os.path.abspath(lxcri.__file__))) == here:
        raise pytest.UsageError(
            "the integration tests must import the installed lxcri, not the source tree: "
            "run `make test` (python -P -m pytest from the .venv)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Inside the Debian 13 root of `make test` (LXCRI_NESTED set), deselect what the host's
    run does itself: a Debian root or a VM built inside that root would only repeat it."""
    _integration_tests_use_the_installed_wheel(items)
    if not os.environ.get("LXCRI_NESTED"):
        return
    kept = [item for item in items if item.get_closest_marker("host_only") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and item.get_closest_marker("core") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"core test skipped under CI=true (not allowed): {reason}"


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One busybox rootfs shared by the session's bundles (containers do not write to it)."""
    if not os.path.isfile(BUSYBOX):
        pytest.skip("busybox-static is not installed (make test installs it)")
    root = tmp_path_factory.mktemp("rootfs")
    root.chmod(0o755)  # mktemp makes it 0700: a non-root container user could not enter /
    for sub in ("bin", "proc", "sys", "dev", "tmp", "etc", "root"):
        (root / sub).mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    out = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout
    for name in out.split():
        if name != "busybox":
            os.symlink("busybox", root / "bin" / name)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


@pytest.fixture(scope="session")
def base_spec() -> Dict[str, Any]:
    from lxcri.runtime import default_spec

    spec = default_spec()
    spec["process"]["terminal"] = False
    return spec


BundleFactory = Callable[..., Path]


@pytest.fixture
def make_bundle(tmp_path: Path, rootfs: Path, base_spec: Dict[str, Any]) -> BundleFactory:
    """make_bundle(*args, hostname=..., edit=callable(spec)) -> bundle directory."""
    return bundle_factory(tmp_path, rootfs, base_spec)


@pytest.fixture
def state_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private state root; anything left in it is force-deleted afterwards."""
    needs_root()
    root = Path(tmp_path_factory.mktemp("state"))
    yield root
    failed = []
    # Every backend's containers (lxcri list), and crun state dirs lxcri list may miss.
    listed = subprocess.run([LXCRI, "--root", str(root), "list", "-q"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, timeout=60).stdout.split()
    entries = {e for e in (os.listdir(root) if root.exists() else []) if not e.startswith(".")}
    for entry in sorted(entries | set(listed)):
        proc = subprocess.run([LXCRI, "--root", str(root), "delete", "--force", entry],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=60)
        if proc.returncode != 0:
            failed.append(f"{entry}: {proc.stderr.strip()}")
    shutil.rmtree(root, ignore_errors=True)
    # A container that cannot be deleted leaks its cgroups and processes: say so.
    assert not failed, f"cleanup could not delete containers: {failed}"


@pytest.fixture
def cli(state_root: Path) -> Cli:
    if not os.path.exists(LXCRI):
        pytest.fail(f"{LXCRI} missing: run the tests with `make test`")
    return Cli(state_root)


@pytest.fixture
def runtime(state_root: Path) -> Iterator[Any]:
    import lxcri

    rt = lxcri.Runtime(root=str(state_root))
    yield rt
    for st in rt.list():
        rt.delete(st.id, force=True)
    rt.close()
