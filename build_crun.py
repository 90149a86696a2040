"""CFFI (API mode) build script for lxcri._crun, the binding to libcrun.

It compiles against a built crun tree: $LXCRI_CRUN_TREE, or build/crun/src beside
this file (what `make` produces with scripts/build-libcrun.sh). The libraries
libcrun links (cap, seccomp, yajl or json-c, systemd, gcrypt, ...) are read from
the tree's libtool archive, never hard-coded, so newer crun releases build too.
The extension finds libcrun.so.0 beside itself through an $ORIGIN rpath; setup.py
copies the library into the wheel.
"""
import os
import re
import shlex

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "include")
# Order matters: later declarations use types from earlier ones.
CDEF_FILES = ("error.h", "container.h", "status.h", "shim.h")


class CrunTreeError(RuntimeError):
    pass


def crun_tree():
    tree = os.environ.get("LXCRI_CRUN_TREE") or os.path.join(HERE, "build", "crun", "src")
    tree = os.path.abspath(tree)
    for needed in ("config.h", "libcrun.la", "src/libcrun/container.h", ".libs/libcrun.so.0"):
        if not os.path.exists(os.path.join(tree, needed)):
            raise CrunTreeError(
                f"lxcri build: {tree} has no {needed}: build libcrun first "
                "(`make libcrun`) or point LXCRI_CRUN_TREE at a built crun tree")
    return tree


def libtool_dependency_libs(la_file):
    """The -l/-L flags libtool recorded for libcrun (its dependency_libs)."""
    with open(la_file) as f:
        m = re.search(r"^dependency_libs='([^']*)'", f.read(), re.M)
    flags = shlex.split(m.group(1)) if m else []
    libs = [f[2:] for f in flags if f.startswith("-l")]
    dirs = [f[2:] for f in flags if f.startswith("-L")]
    return libs, dirs


def mount_option_names(tree):
    """The mount options libcrun understands, from its gperf table (a build fact for the
    OCI features document); empty when this crun version keeps them elsewhere."""
    path = os.path.join(tree, "src", "libcrun", "mount_flags.perf")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        body = f.read().split("%%")
    if len(body) < 3:
        return []
    names = []
    for line in body[1].splitlines():
        name = line.split(",", 1)[0].strip()
        if name and not name.startswith("#") and " " not in name:
            names.append(name)
    return names


def version():
    ns = {}
    with open(os.path.join(HERE, "lxcri", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def make_ffibuilder():
    tree = crun_tree()
    ffibuilder = FFI()
    for name in CDEF_FILES:
        with open(os.path.join(INCLUDE, "cdef", name)) as f:
            ffibuilder.cdef(f.read())
    dep_libs, dep_dirs = libtool_dependency_libs(os.path.join(tree, "libcrun.la"))
    ffibuilder.set_source(
        "lxcri._crun",
        '#include "lxcri_shim.h"\n',
        include_dirs=[INCLUDE, tree, os.path.join(tree, "src"),
                      os.path.join(tree, "libocispec", "src")],
        define_macros=[("LXCRI_VERSION", '"%s"' % version()),
                       ("LXCRI_MOUNT_OPTIONS", '"%s"' % " ".join(mount_option_names(tree)))],
        library_dirs=[os.path.join(tree, ".libs")] + dep_dirs,
        libraries=["crun"] + dep_libs,
        extra_link_args=["-Wl,-rpath,$ORIGIN", "-Wl,--as-needed"],
    )
    return ffibuilder


try:
    ffibuilder = make_ffibuilder()
except CrunTreeError as exc:  # imported by setup.py: keep the message to one line
    raise SystemExit(str(exc)) from None

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi"), verbose=True)
