"""CFFI (API mode) build script for lxcri._crun, the binding to libcrun.

It compiles against a built crun tree: $LXCRI_CRUN_TREE, or build/crun/src beside
this file (what `make` produces with scripts/build-libcrun.sh). The libraries
libcrun links (cap, seccomp, yajl or json-c, systemd, gcrypt, ...) are read from
the tree's libtool archive, never hard-coded, so newer crun releases build too.
The extension finds libcrun.so.0 beside itself through an $ORIGIN rpath; setup.py
copies the library into the wheel.

The declarations (include/cdef/crun/*.h, in the order of CDEF_FILES) follow the
headers of the tree being built: what differs between crun releases (a context
field that went, a callback whose parameter changed type, a function that
appeared) is probed in the tree with the C compiler (PROBES), selected in the cdef
files with `#if NAME` / `#else` / `#endif`, and carried into the compiled module as
Python bools `lib.NAME`. The extension is compiled with the errors gcc 14 makes of
incompatible pointers, so a declaration that does not match the tree fails the
build here too, not only on Debian 13. How cdef files, facts and flags become an
FFI is build_ffi.py's, shared with build_lxc.py; this file knows only the crun tree
(where it is, its link list, its mount options, what to probe in it).
"""
import os
import re
import shlex
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# build_ffi.py, the FFI skeleton shared with build_lxc.py, lies beside this file: found
# whether setuptools runs this as __cffi__, `python build_crun.py` runs it, or it is
# imported (setup.py, the unit tests), without leaving the source tree on sys.path.
sys.path.insert(0, HERE)
try:
    import build_ffi
finally:
    sys.path.remove(HERE)

INCLUDE = build_ffi.INCLUDE
# include/cdef/crun/, in this order: later declarations use types from earlier ones.
CDEF_FILES = ("error.h", "logging.h", "handler.h", "context.h", "container.h", "status.h",
              "features.h", "fork.h", "shim.h")


# Facts about the crun tree: each snippet compiles (at file scope, after libcrun's
# headers) exactly when the fact holds.
PROBES = {
    # In 1.8.1, gone in 1.21 (whose crun says --no-subreaper is "ignored"); libcrun never
    # read it: only crun's CLI set it.
    "LXCRI_HAS_CONTEXT_NO_SUBREAPER":
        "static const size_t lxcri_probe = offsetof (libcrun_context_t, no_subreaper);",
    # The log callback's third parameter: `bool warning` in 1.8.1, `int verbosity` in 1.21.
    "LXCRI_OUTPUT_HANDLER_INT_VERBOSITY":
        "_Static_assert (__builtin_types_compatible_p (crun_output_handler,"
        " void (*) (int, const char *, int, void *)), \"int verbosity\");",
    "LXCRI_OUTPUT_HANDLER_BOOL_WARNING":
        "_Static_assert (__builtin_types_compatible_p (crun_output_handler,"
        " void (*) (int, const char *, bool, void *)), \"bool warning\");",
    # 1.21, not 1.8.1: what crun --debug sets.
    "LXCRI_HAS_VERBOSITY_DEBUG": "static const int lxcri_probe = LIBCRUN_VERBOSITY_DEBUG;",
    # 1.21, not 1.8.1.
    "LXCRI_HAS_CONTAINER_GET_FEATURES":
        "static void *lxcri_probe = (void *) libcrun_container_get_features;",
}
# Exactly one of each group must hold, or this crun has a form the cdef does not know.
ONE_OF = [("LXCRI_OUTPUT_HANDLER_INT_VERBOSITY", "LXCRI_OUTPUT_HANDLER_BOOL_WARNING",
           "crun_output_handler in src/libcrun/error.h")]

PROBE_PRELUDE = """#include <stdbool.h>
#include <stddef.h>
#include <libcrun/container.h>
#include <libcrun/status.h>
#include <libcrun/error.h>
#include <libcrun/custom-handler.h>
"""


CrunTreeError = build_ffi.BuildError


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


def include_dirs(tree):
    return [tree, os.path.join(tree, "src"), os.path.join(tree, "libocispec", "src")]


def probe_tree(tree):
    """{name: bool} for PROBES, each decided by compiling its snippet against the tree."""
    return build_ffi.probe(PROBE_PRELUDE, PROBES, include_dirs=include_dirs(tree), one_of=ONE_OF,
                           headers=f"libcrun's headers in {tree}", script="build_crun.py")


def make_ffibuilder():
    tree = crun_tree()
    dep_libs, dep_dirs = libtool_dependency_libs(os.path.join(tree, "libcrun.la"))
    return build_ffi.make_ffibuilder(
        "lxcri._crun", "crun", CDEF_FILES, probe_tree(tree),
        '#include "lxcri_shim.h"\n#include "lxcri_fork.h"\n',
        include_dirs=include_dirs(tree),
        define_macros=[("LXCRI_MOUNT_OPTIONS", '"%s"' % " ".join(mount_option_names(tree)))],
        library_dirs=[os.path.join(tree, ".libs")] + dep_dirs,
        libraries=["crun"] + dep_libs,
        extra_link_args=["-Wl,-rpath,$ORIGIN"],
    )


# setuptools' cffi_modules runs this file as __cffi__ and takes `ffibuilder`; a plain
# import (setup.py's crun_tree, the unit tests) gets the functions only.
if __name__ in ("__cffi__", "__main__"):
    try:
        ffibuilder = make_ffibuilder()
    except CrunTreeError as exc:  # keep the message to one line
        raise SystemExit(str(exc)) from None

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi"), verbose=True)
