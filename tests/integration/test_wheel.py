"""The wheel stands alone: one cp39-abi3 manylinux wheel that carries the libraries
libcrun links, installs with plain pip into a new virtualenv, and runs containers
there with the crun source and build trees out of sight, on this host and on a bare
Debian 13 root that has nothing but python3-venv."""
from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List

import pytest

from lxcri.host.libraries import elf_needed, library_name
from support import LXCRI, cgroups_named, copy_rootfs, mounts_under, needs_root, new_id, state_left

pytestmark = [pytest.mark.integration, pytest.mark.core]

REPO = Path(__file__).resolve().parents[2]
# make builds the wheel beside the venv it installs it into (Makefile: DIST).
DIST = Path(sys.prefix) / ".dist"
# The bare Debian 13 root (scripts/debian-root.sh caches its debootstrap beside it).
TRIXIE_ROOT = REPO / "build" / "debian13" / "bare"
WHEEL_NAME = re.compile(r"lxcri-(?P<version>[^-]+)-cp39-abi3-"
                        r"(?P<plat>manylinux_2_\d+_\w+(?:\.manylinux_2_\d+_\w+)*)\.whl")
# What manylinux lets a wheel take from the host (glibc and libgcc); anything else
# libcrun links must be in the wheel.
HOST_LIBS = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
             "libresolv.so.2", "libutil.so.1", "libgcc_s.so.1"}


def is_host_lib(name: str) -> bool:
    return name in HOST_LIBS or name.startswith("ld-linux")


def the_wheel() -> Path:
    wheels = sorted(DIST.glob("lxcri-*.whl"))
    if not wheels:
        pytest.skip(f"no wheel in {DIST}: `make test` builds it")
    assert len(wheels) == 1, f"make leaves exactly one wheel in {DIST}: {wheels}"
    return wheels[0]


def test_wheel_is_abi3_manylinux_and_carries_what_libcrun_links(tmp_path: Path) -> None:
    wheel = the_wheel()
    name = WHEEL_NAME.fullmatch(wheel.name)
    assert name, f"{wheel.name} is not tagged cp39-abi3-manylinux_2_NN_ARCH"
    with zipfile.ZipFile(wheel) as z:
        z.extractall(tmp_path)
        files = z.namelist()
        meta = z.read(f"lxcri-{name['version']}.dist-info/WHEEL").decode()
    tags = sorted(re.findall(r"^Tag: (\S+)$", meta, re.M))
    assert tags == sorted(f"cp39-abi3-{plat}" for plat in name["plat"].split(".")), meta

    # The zygote's library (not a Python extension) and its loader, which links only libc.
    zygote = ["lxcri/_zygote.so", "lxcri/lxcri-zygote"]
    assert all(f in files for f in zygote), files
    assert elf_needed(str(tmp_path / "lxcri" / "lxcri-zygote")) in (["libc.so.6"],
                                                                    ["libdl.so.2", "libc.so.6"])
    # The `lxcri` script is the native launcher, which runs before every command: linked
    # statically against musl where musl-gcc was there to build it (make installs
    # musl-tools), as exec of a dynamically linked one costs about 0.5 ms more.
    launcher = [f for f in files if f.endswith(".data/scripts/lxcri")]
    assert len(launcher) == 1, files
    launcher_needs = elf_needed(str(tmp_path / launcher[0]))
    assert launcher_needs is not None, f"{launcher[0]} is not an ELF"
    if shutil.which("musl-gcc"):
        assert launcher_needs == [], f"the launcher links {launcher_needs}: built without musl-gcc"
    extensions = [f for f in files if f.startswith("lxcri/") and f.endswith(".so")
                  and f not in zygote]
    assert "lxcri/_crun.abi3.so" in extensions
    assert all(f.endswith(".abi3.so") for f in extensions), extensions

    grafted = {f[len("lxcri.libs/"):] for f in files if f.startswith("lxcri.libs/")} - {""}
    assert grafted, "auditwheel grafted nothing into lxcri.libs/"
    assert not [g for g in grafted if g.startswith("liblxc")], grafted  # the host's lxc
    for elf in ["lxcri/libcrun.so.0", *extensions, *zygote,
                *(f"lxcri.libs/{g}" for g in grafted)]:
        needed = elf_needed(str(tmp_path / elf))
        assert needed is not None, f"{elf}: not an ELF"
        here = {p.name for p in (tmp_path / elf).parent.iterdir()} | grafted
        missing = [n for n in needed if not is_host_lib(n) and n not in here
                   and not (elf == "lxcri/_lxc.abi3.so" and n.startswith("liblxc.so"))]
        assert not missing, f"{elf} needs {missing}, which the wheel does not carry"
    libcrun_needs = elf_needed(str(tmp_path / "lxcri" / "libcrun.so.0")) or []
    assert [n for n in libcrun_needs if n in grafted], libcrun_needs
    assert all(library_name(n) != n for n in libcrun_needs if n in grafted), libcrun_needs


def test_info_names_the_libraries_the_installed_wheel_carries() -> None:
    doc = json.loads(subprocess.run([LXCRI, "info", "--format", "json"], capture_output=True,
                                    text=True, check=True, timeout=60).stdout)
    check_libcrun_library(doc, str(Path(sys.prefix)))


def check_libcrun_library(doc: Dict[str, Any], prefix: str) -> None:
    """info's libcrun_library: the libcrun in the venv at prefix, and all it links carried
    (lxcri.libs/, named without auditwheel's hash) but glibc."""
    library = doc["libcrun_library"]
    assert library and library["bundled"] and library["path"].startswith(prefix + "/"), library
    carried = [link for link in library["links"] if not is_host_lib(link["name"])]
    assert carried and all(link["bundled"] and "/lxcri.libs/" in link["path"]
                           for link in carried), library
    names = " ".join(link["name"] for link in carried)
    assert not re.search(r"-[0-9a-f]{8}\.so", names), names
    for expected in ("libseccomp.so", "libcap.so"):  # what every crun's libcrun links here
        assert expected in names, names


def test_wheel_runs_containers_without_the_crun_trees(tmp_path: Path, make_bundle: Any,
                                                      state_root: Path) -> None:
    wheel = the_wheel()
    venv = tmp_path / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True,
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


# ---------------------------------------------------------------- a bare Debian 13

@pytest.fixture(scope="module")
def bare_trixie() -> Path:
    """The bare trixie root: minbase and python3-venv (made once, then reused)."""
    needs_root()
    if shutil.which("debootstrap") is None and not (TRIXIE_ROOT / ".lxcri-root").exists() \
            and not (TRIXIE_ROOT.parent / "trixie-minbase.tar").exists():
        subprocess.run(["sh", str(REPO / "scripts" / "install-packages.sh"), "debootstrap"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=900)
        if shutil.which("debootstrap") is None:
            pytest.skip("debootstrap cannot be had: no Debian 13 root to install the wheel in")
    proc = subprocess.run(["sh", str(REPO / "scripts" / "debian-root.sh"), "trixie",
                           str(TRIXIE_ROOT), "python3-venv"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return TRIXIE_ROOT


@pytest.fixture
def in_trixie(bare_trixie: Path) -> Iterator[Path]:
    """A per-test directory in the root's /var/tmp (the root's /tmp is a fresh tmpfs in
    each in-root.sh), removed afterwards: the cached root is left as it was."""
    work = bare_trixie / "var" / "tmp" / new_id("trixie")
    work.mkdir(parents=True)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.host_only
def test_wheel_installs_and_runs_a_container_on_a_bare_debian13(
        in_trixie: Path, bare_trixie: Path, rootfs: Path, base_spec: Dict[str, Any]) -> None:
    wheel = the_wheel()
    inside = "/" + str(in_trixie.relative_to(bare_trixie))  # the work dir as the root sees it
    shutil.copy2(wheel, in_trixie / wheel.name)
    copy_rootfs(rootfs, in_trixie / "bundle" / "rootfs")
    spec = json.loads(json.dumps(base_spec))
    spec["root"] = {"path": f"{inside}/bundle/rootfs", "readonly": True}
    spec["process"]["args"] = ["sh", "-c", "echo trixie-ok from $(hostname); exit 3"]
    spec["hostname"] = "trixie"
    (in_trixie / "bundle" / "config.json").write_text(json.dumps(spec))
    id = new_id("trixie")
    # One in-root.sh: the venv and the state root live in its /tmp, gone with it.
    (in_trixie / "run.sh").write_text(f"""set -eu
cd {inside}
command -v gcc cc c99 > compilers || true
dpkg-query -W -f '${{Package}}\\n' | grep -e '-dev$' > dev-packages || true
python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' > python
python3 -m venv /tmp/venv
/tmp/venv/bin/pip install -q --no-cache-dir --only-binary :all: {inside}/{wheel.name}
ls /tmp/venv/lib/python*/site-packages/lxcri/ > extensions
/tmp/venv/bin/lxcri info --format json > info.json
rc=0
/tmp/venv/bin/lxcri --root /tmp/state run --bundle {inside}/bundle {id} > run.out 2> run.err || rc=$?
echo $rc > run.rc
/tmp/venv/bin/python -c '
import sys, lxcri
rt = lxcri.Runtime(root="/tmp/state")
try:
    code = rt.run(sys.argv[1], sys.argv[2], stdout=open("lib.out", "w"))
    helper = rt._helper.pid
    children = open(f"/proc/{{helper}}/task/{{helper}}/children").read().split()
    cmdlines = [open(f"/proc/{{pid}}/cmdline", "rb").read() for pid in children]
    print(code, "zygote" if any(c.startswith(b"lxcri-zygote") for c in cmdlines) else "none")
finally:
    rt.close()
' {id}lib {inside}/bundle > lib.rc 2> lib.err || true
/tmp/venv/bin/lxcri --root /tmp/state list -q > left
/tmp/venv/bin/lxcri --root /tmp/state delete --force {id} 2>/dev/null || true
""")
    proc = subprocess.run(["sh", str(REPO / "scripts" / "in-root.sh"), str(bare_trixie),
                           "sh", f"{inside}/run.sh"], capture_output=True, text=True, timeout=600)
    assert mounts_under(bare_trixie) == []
    assert cgroups_named(id) == []
    assert proc.returncode == 0, proc.stdout + proc.stderr

    def read(name: str) -> str:
        return (in_trixie / name).read_text()

    assert (read("compilers"), read("dev-packages")) == ("", ""), "the root is not bare"
    assert (read("run.rc"), read("run.out")) == ("3\n", "trixie-ok from trixie\n"), read("run.err")
    # The library too, through the zygote (its _zygote.so loads the wheel's libraries).
    assert (read("lib.rc"), read("lib.out")) == ("3 zygote\n", "trixie-ok from trixie\n"), \
        read("lib.err")
    assert read("left") == ""
    extensions: List[str] = [f for f in read("extensions").split() if f.endswith(".so")
                             and f != "_zygote.so"]
    assert extensions and all(f.endswith(".abi3.so") for f in extensions), extensions

    doc = json.loads(read("info.json"))
    check_libcrun_library(doc, "/tmp/venv")
    runtimes = {r["name"]: r for r in doc["runtimes"]}
    assert runtimes["crun"]["available"] and "embedded libcrun" in runtimes["crun"]["detail"]
    assert not runtimes["lxc"]["available"]  # no lxc on a bare root, and it says why
    if "_lxc.abi3.so" in extensions:
        assert "liblxc.so.1" in runtimes["lxc"]["detail"], runtimes["lxc"]
        assert "install the host's lxc" in runtimes["lxc"]["detail"], runtimes["lxc"]
    print(f"bare trixie, Python {read('python').strip()}: {wheel.name} ran a container")
