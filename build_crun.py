"""CFFI (API mode) build script for lxcri._crun, the binding to libcrun.

It compiles against a built crun tree: $LXCRI_CRUN_TREE, or build/crun/src beside
this file (what `make` produces with scripts/build-libcrun.sh). The libraries
libcrun links (cap, seccomp, yajl or json-c, systemd, gcrypt, ...) are read from
the tree's libtool archive, never hard-coded, so newer crun releases build too.
The extension finds libcrun.so.0 beside itself through an $ORIGIN rpath; setup.py
copies the library into the wheel.

The declarations (include/cdef/crun/*.h) follow the headers of the tree being built:
what differs between crun releases (a context field that went, a callback whose
parameter changed type, a function that appeared) is probed in the tree with the
C compiler (PROBES), selected in the cdef files with `#if NAME` / `#else` /
`#endif` (evaluated here: CFFI's cdef has no preprocessor), and carried into the
compiled module as Python bools `lib.NAME`. The extension is compiled with the
errors gcc 14 makes of incompatible pointers, so a declaration that does not match
the tree fails the build here too, not only on Debian 13.
"""
import os
import re
import shlex
import subprocess
import sysconfig
import tempfile

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
INCLUDE = os.path.join(HERE, "include")
# Order matters: later declarations use types from earlier ones.
CDEF_FILES = ("error.h", "container.h", "status.h", "shim.h")


# gcc 14 (Debian 13) makes these errors; gcc 12 (Debian 12) only warns.
STRICT_CFLAGS = ["-Werror=incompatible-pointer-types", "-Werror=int-conversion",
                 "-Werror=implicit-function-declaration", "-Werror=implicit-int"]

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


def include_dirs(tree):
    return [INCLUDE, tree, os.path.join(tree, "src"), os.path.join(tree, "libocispec", "src")]


def compiler():
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def probe_tree(tree):
    """{name: bool} for PROBES, each decided by compiling its snippet against the tree."""
    cmd = compiler() + ["-fsyntax-only"] + STRICT_CFLAGS
    cmd += ["-I" + d for d in include_dirs(tree)]
    facts = {}
    with tempfile.TemporaryDirectory(prefix="lxcri-probe-") as tmp:
        base = os.path.join(tmp, "base.c")
        with open(base, "w") as f:
            f.write(PROBE_PRELUDE)
        res = subprocess.run(cmd + [base], capture_output=True, text=True)
        if res.returncode != 0:
            raise CrunTreeError(f"lxcri build: libcrun's headers in {tree} do not compile: "
                                f"{res.stderr.strip().splitlines()[:3]}")
        for name, snippet in PROBES.items():
            path = os.path.join(tmp, name + ".c")
            with open(path, "w") as f:
                f.write(PROBE_PRELUDE + snippet + "\n")
            facts[name] = subprocess.run(cmd + [path], capture_output=True).returncode == 0
    for *names, what in ONE_OF:
        if sum(facts[n] for n in names) != 1:
            raise CrunTreeError(f"lxcri build: {what} of {tree} has a form include/cdef does "
                                "not know: add it there and to PROBES in build_crun.py")
    return facts


def select_cdef(text, facts, name="cdef"):
    """Keep the lines whose `#if NAME` / `#if !NAME` / `#else` / `#endif` hold."""
    out, stack = [], []  # stack of (keeping this branch, keeping the enclosing text)
    for n, line in enumerate(text.splitlines(), 1):
        m = re.match(r"\s*#\s*(if|else|endif)\b\s*(!?)\s*(\w*)\s*$", line)
        if m:
            kw, neg, flag = m.groups()
            if kw == "if":
                if flag not in facts:
                    raise CrunTreeError(f"lxcri build: {name}:{n}: unknown fact {flag!r} "
                                        "(not in PROBES of build_crun.py)")
                outer = all(keep for keep, _ in stack)
                stack.append((facts[flag] != bool(neg), outer))
            elif not stack:
                raise CrunTreeError(f"lxcri build: {name}:{n}: #{kw} without #if")
            elif kw == "else":
                keep, outer = stack.pop()
                stack.append((not keep, outer))
            else:
                stack.pop()
            out.append("")  # keep line numbers for CFFI's messages
            continue
        out.append(line if all(keep for keep, _ in stack) else "")
    if stack:
        raise CrunTreeError(f"lxcri build: {name}: #if without #endif")
    return "\n".join(out) + "\n"


def version():
    ns = {}
    with open(os.path.join(HERE, "lxcri", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def make_ffibuilder():
    tree = crun_tree()
    facts = probe_tree(tree)
    ffibuilder = FFI()
    for name in CDEF_FILES:
        with open(os.path.join(INCLUDE, "cdef", "crun", name)) as f:
            ffibuilder.cdef(select_cdef(f.read(), facts, name))
    # The facts, as Python bools (an `extern bool`: CFFI makes constants ints).
    ffibuilder.cdef("".join(f"extern bool {name};\n" for name in facts))
    source = '#include "lxcri_shim.h"\n' + "".join(
        f"static bool {name} = {'true' if on else 'false'};\n" for name, on in facts.items())
    dep_libs, dep_dirs = libtool_dependency_libs(os.path.join(tree, "libcrun.la"))
    ffibuilder.set_source(
        "lxcri._crun",
        source,
        include_dirs=include_dirs(tree),
        define_macros=[("LXCRI_VERSION", '"%s"' % version()),
                       ("LXCRI_MOUNT_OPTIONS", '"%s"' % " ".join(mount_option_names(tree)))],
        library_dirs=[os.path.join(tree, ".libs")] + dep_dirs,
        libraries=["crun"] + dep_libs,
        extra_compile_args=STRICT_CFLAGS,
        extra_link_args=["-Wl,-rpath,$ORIGIN", "-Wl,--as-needed"],
    )
    return ffibuilder


# setuptools' cffi_modules runs this file as __cffi__ and takes `ffibuilder`; a plain
# import (setup.py's crun_tree, the unit tests) gets the functions only.
if __name__ in ("__cffi__", "__main__"):
    try:
        ffibuilder = make_ffibuilder()
    except CrunTreeError as exc:  # keep the message to one line
        raise SystemExit(str(exc)) from None

if __name__ == "__main__":
    ffibuilder.compile(tmpdir=os.path.join(HERE, "build", "cffi"), verbose=True)
