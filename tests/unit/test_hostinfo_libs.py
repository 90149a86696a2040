"""How `lxcri info` names the libcrun it loaded and what that links (lxcri.host.libraries, lxcri.info)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from lxcri import info
from lxcri.host import libraries

# An ELF with DT_NEEDED entries on every Debian host (dash links libc.so.6).
SOME_ELF = "/bin/sh"


def test_library_name_drops_the_auditwheel_hash_only() -> None:
    assert libraries.library_name("libyajl-86865dfa.so.2.1.0") == "libyajl.so.2.1.0"
    assert libraries.library_name("libgpg-error-f93b4f9a.so.0.33.1") == "libgpg-error.so.0.33.1"
    assert libraries.library_name("libgpg-error.so.0") == "libgpg-error.so.0"
    assert libraries.library_name("libcrun.so.0") == "libcrun.so.0"
    assert libraries.library_name("libfoo-deadbeef") == "libfoo-deadbeef"  # no .so: not a graft
    assert libraries.library_name("libfoo-DEADBEEF.so.1") == "libfoo-DEADBEEF.so.1"


def test_elf_needed_agrees_with_readelf(tmp_path: Path) -> None:
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is not installed")
    out = subprocess.run([readelf, "-d", SOME_ELF], capture_output=True, text=True,
                         check=True).stdout
    expected = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
    assert expected and libraries.elf_needed(SOME_ELF) == expected
    text = tmp_path / "not-elf"
    text.write_text("#!/bin/sh\n")
    assert libraries.elf_needed(str(text)) is None
    assert libraries.elf_needed(str(tmp_path / "missing")) is None
    truncated = tmp_path / "truncated"
    truncated.write_bytes(Path(SOME_ELF).read_bytes()[:64])
    assert libraries.elf_needed(str(truncated)) is None


def test_libcrun_libraries_resolves_links_through_the_mapped_files(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "lxcri"
    pkg.mkdir(parents=True)
    shutil.copyfile(SOME_ELF, pkg / "libcrun.so.0")  # stands in for libcrun: its NEEDED are
    needed = libraries.elf_needed(str(pkg / "libcrun.so.0"))  # resolved like libcrun's
    assert needed
    host = [f"/usr/lib/x86_64-linux-gnu/{name}.1.2" for name in needed]  # real file names
    maps = "\n".join(
        [f"7f00-7f01 r--p 00000000 08:01 12 {pkg}/libcrun.so.0",
         f"7f01-7f02 r-xp 00001000 08:01 12 {pkg}/libcrun.so.0",
         "7f02-7f03 rw-p 00000000 00:00 0 ",
         "7f03-7f04 r--p 00000000 00:00 0 [heap]"]
        + [f"7f1{i}-7f2{i} r--p 00000000 08:01 9{i} {path}" for i, path in enumerate(host)])
    found = libraries.libcrun_libraries(maps, str(pkg))
    assert found is not None
    assert (found["name"], found["path"], found["bundled"]) == (
        "libcrun.so.0", f"{pkg}/libcrun.so.0", True)
    assert found["links"] == [{"name": f"{name}.1.2", "path": path, "bundled": False}
                              for name, path in zip(needed, host)]
    assert libraries.libcrun_libraries("7f00-7f01 r--p 0 08:01 1 /usr/lib/libc.so.6\n",
                                      str(pkg)) is None
    text = info.format_text({
        "lxcri": "0", "libcrun": "1.8.1", "libcrun_library": found, "state_root": "/r",
        "config": {"path": "/c", "present": False}, "runtimes": [], "routing": [],
        "cgroups": {"mode": "v2"}})
    assert f"libcrun library: {pkg}/libcrun.so.0 (carried by lxcri)\n" in text
    assert f"libcrun links: {' '.join(n + '.1.2' for n in needed)} (host)\n" in text
