"""The backends' registry (lxcri.backends.BACKENDS): everything that lists runtimes reads it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lxcri import backends, config, dispatch
from lxcri.backends import BACKENDS, Backend, RuntimeType
from lxcri.cli import grammar


def test_importing_the_registry_imports_no_backend() -> None:
    out = subprocess.run(
        [sys.executable, "-P", "-c", "import sys, lxcri.backends; "
         "print(sorted(m for m in sys.modules if m.startswith('lxcri.backends.')))"],
        capture_output=True, text=True, check=True)
    assert out.stdout == "[]\n"


def test_every_entry_names_a_factory_and_an_availability_check() -> None:
    assert RuntimeType.ALL == tuple(BACKENDS) == ("crun", "runc", "lxc", "vm")
    for entry in BACKENDS.values():
        assert callable(entry.load())
        ok, why = entry.check({})
        assert isinstance(ok, bool) and why


def test_the_vm_backend_says_what_it_lacks(tmp_path: Path) -> None:
    """Without QEMU or the guest files the vm backend is unavailable, with the fix."""
    ok, why = BACKENDS["vm"].check({"qemu": str(tmp_path / "qemu")})
    assert not ok and why.startswith(f"[runtimes.vm] qemu = '{tmp_path / 'qemu'}' is not an "
                                     "executable file")
    ok, why = BACKENDS["vm"].check({"qemu": sys.executable, "guest_dir": str(tmp_path)})
    if ok:  # the guest files of a `make venv` were found further down the search path
        assert "guest kernel" in why and ("tcg:" in why or "kvm:" in why)
    else:
        assert why.startswith(f"no guest kernel and initramfs (vmlinux, initramfs.cpio) in "
                              f"{tmp_path}, ") and "make venv" in why


def test_the_cli_offers_the_registrys_names() -> None:
    assert grammar.RUNTIME.choices == tuple(BACKENDS)


def test_a_new_entry_is_enough_for_config_routing_and_list(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Adding a backend touches only the registry: lxcri.toml accepts its table and keys,
    a state root of its own is found, an unknown key still fails."""
    entry = Backend("toy", "lxcri.backends.vm", "VmBackend", {"size": int})
    monkeypatch.setitem(BACKENDS, "toy", entry)
    cfg = config.parse(b'[runtimes.toy]\nsize = 3\n[[routing]]\npattern = "t-*"\n'
                       b'runtime = "vm"\n')
    assert cfg.options("toy") == {"size": 3}
    with pytest.raises(config.ConfigFileError, match="unknown key 'colour' in"):
        config.parse(b"[runtimes.toy]\ncolour = 1\n")
    (tmp_path / ".lxcri" / "toy" / "c1").mkdir(parents=True)
    assert dispatch.state_roots(str(tmp_path)) == [("toy", backends.backend_root(str(tmp_path),
                                                                                "toy"))]
    assert dispatch.check_runtime_name("toy", "test") == "toy"


def test_a_failing_availability_check_is_an_answer() -> None:
    broken = Backend("broken", "lxcri.backends.vm", "VmBackend", {}, availability="nonexistent")
    ok, why = broken.check({})
    assert not ok and why.startswith("AttributeError")
