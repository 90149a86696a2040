"""The API token's secret never leaks: not in errors, reprs, debug output, logs or state files.
Runs against the fake PVE API server (a TEST DOUBLE, tests/doubles/fake_pve.py)."""
from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import List

import pytest

from doubles.fake_pve import FakePve
from lxcri.backends.lxc import proxmox
from lxcri.backends.lxc.proxmox.driver import ProxmoxDriver
from lxcri.backends.lxc.proxmox.transport import Secret
from lxcri.errors import LxcriError
from lxcri.options import CreateOptions
from proxmox_support import SECRET, FakeClock, api_options, cert_dir, make_bundle, pve  # noqa: F401  (fixtures)

pytestmark = pytest.mark.filterwarnings("ignore:Unverified HTTPS request")


def leaks(text: str) -> bool:
    return SECRET in text or SECRET[:12] in text


def test_secret_never_leaks(pve: FakePve, tmp_path: Path, capfd: pytest.CaptureFixture[str],
                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("proxmoxer", "proxmoxer.core", "proxmoxer.backends.https", "urllib3"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    driver = ProxmoxDriver(str(tmp_path / "state"), api_options(pve, tmp_path), debug=True)
    driver.transport.poll_interval = 0
    driver.transport.clock = FakeClock()
    bundle = make_bundle(tmp_path)
    errors: List[LxcriError] = []

    def attempt(fn, *args, **kw) -> None:  # type: ignore[no-untyped-def]
        try:
            fn(*args, **kw)
        except LxcriError as exc:
            errors.append(exc)

    attempt(driver.create, "c", CreateOptions(str(bundle), str(bundle / "config.json")))
    attempt(driver.start, "c")
    attempt(driver.state_json, "c")
    # A server that echoes the token back in its error message: lxcri redacts it.
    pve.fail[("POST", r"/nodes/pve1/lxc/100/status/stop")] = (500, f"bad header {SECRET}")
    attempt(driver.kill, "c", 9)
    pve.fail_task["vzshutdown"] = "shutdown failed"
    attempt(driver.kill, "c", 15)
    pve.never_finish = True
    attempt(driver.delete, "c", force=True)
    pve.never_finish = False
    pve.expected_auth = "PVEAPIToken=someone@pve!x=other"
    attempt(driver.state_json, "c")
    tls = ProxmoxDriver(str(tmp_path / "state"), api_options(pve, tmp_path, verify_ssl=True))
    attempt(tls.state_json, "c")
    assert len(errors) >= 5, errors  # the error paths above were really taken
    assert any("***" in str(e) for e in errors)
    for exc in errors:
        assert not leaks(str(exc)) and not leaks(repr(exc)) and not leaks(repr(exc.args))
    out, err = capfd.readouterr()
    assert "lxcri: proxmox: POST /nodes/pve1/lxc" in err  # debug output was on
    assert not leaks(out) and not leaks(err)
    assert not leaks(caplog.text)
    assert not leaks(repr(driver)) and not leaks(repr(driver.transport))
    assert not leaks(repr(vars(driver))) and not leaks(repr(vars(driver.transport)))
    for dirpath, _dirs, files in os.walk(tmp_path / "state"):
        for name in files:
            assert not leaks(Path(dirpath, name).read_text(errors="replace"))


def test_secret_object_hides_itself() -> None:
    s = Secret(SECRET)
    assert SECRET not in repr(s) and SECRET not in str(s) and SECRET not in f"{s}"
    with pytest.raises(TypeError):
        pickle.dumps(s)
    assert s.reveal() == SECRET


def test_availability_does_not_show_the_secret(pve: FakePve, tmp_path: Path) -> None:
    options = api_options(pve, tmp_path)
    options["proxmox"].pop("token_secret_file")
    options["proxmox"]["token_secret"] = SECRET
    ok, text = proxmox.availability(options)
    assert ok and not leaks(text)
    options["proxmox"]["endpoint"] = "http://plain:8006"  # refused: the message names the endpoint only
    ok, text = proxmox.availability(options)
    assert not ok and "https" in text and not leaks(text)
