"""CFFI (API mode) build script for lxcri._lxc, the binding to liblxc (the lxc backend).

It compiles against the system's liblxc headers (Debian: lxc-dev), with compiler
and linker flags read from `pkg-config lxc`, never hard-coded. setup.py adds it to
cffi_modules only when `pkg-config --exists lxc` succeeds, so a host without
lxc-dev still builds lxcri with every other backend.

The declarations are include/cdef/lxc/*.h, in the order of CDEF_FILES; the C side
is include/lxcri_lxc_shim.h. How they become an FFI (facts, `#if FACT`, the strict
flags gcc 14 makes errors of, LXCRI_VERSION) is build_ffi.py's, shared with
build_crun.py; this file knows only where liblxc is (pkg-config) and what to probe.
"""
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# build_ffi.py lies beside this file (see build_crun.py).
sys.path.insert(0, HERE)
try:
    import build_ffi
finally:
    sys.path.remove(HERE)

# include/cdef/lxc/, in this order: later declarations use types from earlier ones.
CDEF_FILES = ("attach.h", "container.h", "shim.h")

# Facts about the liblxc headers (see build_crun.py's PROBES): none so far, liblxc 5.0
# is the one built and tested. The headers alone are compiled with the strict flags.
PROBES = {}

PROBE_PRELUDE = """#include <stdbool.h>
#include <lxc/lxccontainer.h>
#include <lxc/attach_options.h>
"""


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "lxc"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise build_ffi.BuildError(
            f"lxcri build: `pkg-config {' '.join(args)} lxc` failed ({exc}): "
            "install lxc-dev, or set LXCRI_WITHOUT_LXC=1 to build without it") from None
    return shlex.split(out)


def split_flags(cflags, libs):
    """pkg-config's flags as set_source's keywords."""
    return dict(
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        extra_compile_args=[f for f in cflags if not f.startswith("-I")],
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        extra_link_args=[f for f in libs if not f.startswith(("-l", "-L"))],
    )


def make_ffibuilder():
    flags = split_flags(pkg_config("--cflags"), pkg_config("--libs"))
    facts = build_ffi.probe(PROBE_PRELUDE, PROBES, include_dirs=flags["include_dirs"],
                            cflags=flags["extra_compile_args"],
                            headers="liblxc's headers (pkg-config lxc)", script="build_lxc.py")
    return build_ffi.make_ffibuilder("lxcri._lxc", "lxc", CDEF_FILES, facts,
                                     '#include "lxcri_lxc_shim.h"\n', **flags)


# setuptools' cffi_modules runs this file as __cffi__ and takes `ffibuilder`; a plain
# import (the unit tests) gets the functions only.
if __name__ in ("__cffi__", "__main__"):
    try:
        ffibuilder = make_ffibuilder()
    except build_ffi.BuildError as exc:  # keep the message to one line
        raise SystemExit(str(exc)) from None

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi-lxc"), verbose=True)
