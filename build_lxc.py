"""CFFI (API mode) build script for lxcri._lxc, the binding to liblxc (the lxc backend).

It compiles against the system's liblxc headers (Debian: lxc-dev), with compiler
and linker flags read from `pkg-config lxc`, never hard-coded. setup.py adds it to
cffi_modules only when `pkg-config --exists lxc` succeeds, so a host without
lxc-dev still builds lxcri with every other backend.
"""
import os
import shlex
import subprocess

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "include")
CDEF_FILES = ("lxc_cdef.h",)


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "lxc"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"lxcri build: `pkg-config {' '.join(args)} lxc` failed ({exc}): "
                         "install lxc-dev, or set LXCRI_WITHOUT_LXC=1 to build without it")
    return shlex.split(out)


def version():
    ns = {}
    with open(os.path.join(HERE, "lxcri", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def make_ffibuilder():
    ffibuilder = FFI()
    for name in CDEF_FILES:
        with open(os.path.join(INCLUDE, name)) as f:
            ffibuilder.cdef(f.read())
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    ffibuilder.set_source(
        "lxcri._lxc",
        "#include <stdbool.h>\n"
        "#include <lxc/lxccontainer.h>\n"
        "#include <lxc/attach_options.h>\n"
        "static const char *lxcri_lxc_module_version(void) { return LXCRI_VERSION; }\n",
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        extra_compile_args=[f for f in cflags if not f.startswith("-I")],
        define_macros=[("LXCRI_VERSION", '"%s"' % version())],
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        extra_link_args=[f for f in libs if not f.startswith(("-l", "-L"))] + ["-Wl,--as-needed"],
    )
    return ffibuilder


ffibuilder = make_ffibuilder()

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi-lxc"), verbose=True)
