"""Builds lxcri with its libcrun binding; metadata lives in pyproject.toml.

One wheel serves CPython 3.9 and newer: the CFFI extensions are compiled against the
limited API of 3.9 (Py_LIMITED_API=0x03090000, *.abi3.so) and the wheel is tagged
cp39-abi3. `make` then repairs it with auditwheel (the libraries libcrun links go
into lxcri.libs/, the tag becomes manylinux_2_NN for the glibc it needs).

Besides the CFFI extension, the wheel carries two files taken from the built crun
tree at build time (never committed): libcrun.so.0 beside the extension (found
through its $ORIGIN rpath) and the OCI runtime-spec JSON schema that lxcri uses to
explain a rejected config.json; and the library helper's zygote, compiled here
(lxcri/_zygote.so and its loader lxcri/lxcri-zygote, from launcher/zygote*.c).
"""
import os
import shutil
import subprocess
import sys
from distutils.command.build_scripts import build_scripts  # setuptools ships its distutils

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

# The oldest Python the wheel serves (pyproject.toml: requires-python), as the wheel's
# python tag and as the limited API version the extensions are compiled against.
LIMITED_API_TAG = "cp39"
LIMITED_API_HEX = "0x03090000"


class build_ext_limited_api(build_ext):
    """Every extension is built for the stable ABI (cffi's own default defines a bare
    Py_LIMITED_API, which means 3.2's; this pins it to the version the tag claims)."""

    def finalize_options(self):
        super().finalize_options()
        for ext in self.extensions:
            ext.py_limited_api = True
            if not any(name == "Py_LIMITED_API" for name, _ in ext.define_macros):
                ext.define_macros.append(("Py_LIMITED_API", LIMITED_API_HEX))

    def build_extensions(self):
        # The building Python's own rpath (a pyenv or /opt Python puts its lib dir in
        # LDSHARED) means nothing on another host, and limited-API modules need no libpython.
        linker = self.compiler.linker_so
        self.compiler.linker_so = [arg for arg in linker if not arg.startswith("-Wl,-rpath,")]
        super().build_extensions()


class build_py_with_libcrun(build_py):
    def run(self):
        super().run()
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from build_crun import crun_tree  # beside this file; needs cffi (a build requirement)

        tree = crun_tree()
        pkg = os.path.join(self.build_lib, "lxcri")
        lib = os.path.join(pkg, "libcrun.so.0")
        shutil.copyfile(os.path.join(tree, ".libs", "libcrun.so.0"), lib)
        zygote = build_zygote(tree, pkg)
        if shutil.which("strip"):
            subprocess.run(["strip", "--strip-unneeded", lib, zygote[0]], check=True)
            subprocess.run(["strip", zygote[1]], check=True)
        schema_src = os.path.join(tree, "libocispec", "runtime-spec", "schema")
        schema_dst = os.path.join(pkg, "_schema")
        os.makedirs(schema_dst, exist_ok=True)
        for name in os.listdir(schema_src):
            if name.endswith(".json") and name != "state-schema.json":
                shutil.copyfile(os.path.join(schema_src, name), os.path.join(schema_dst, name))


def build_zygote(tree, pkg):
    """The library helper's zygote (launcher/zygote.c, lxcri_zygote.h): lxcri/_zygote.so,
    linked to libcrun.so.0 beside it, and lxcri/lxcri-zygote, the program that loads it
    (it runs from a memfd, where $ORIGIN means nothing). Returns their paths."""
    from build_crun import include_dirs, probe_tree
    from build_ffi import STRICT_CFLAGS

    cc = os.environ.get("CC", "cc").split()
    facts = [f"-D{name}={int(value)}" for name, value in probe_tree(tree).items()]
    library = os.path.join(pkg, "_zygote.so")
    loader = os.path.join(pkg, "lxcri-zygote")
    subprocess.run(
        cc + ["-shared", "-fPIC", "-O2", "-Wall", "-Wno-unused-function", *STRICT_CFLAGS,
              "-fvisibility=hidden",
              '-DLXCRI_VERSION="zygote"', '-DLXCRI_MOUNT_OPTIONS=""', *facts, "-Iinclude"]
        + [f"-I{d}" for d in include_dirs(tree)]
        + ["-o", library, "launcher/zygote.c", "-L" + os.path.join(tree, ".libs"), "-lcrun",
           "-Wl,-rpath,$ORIGIN", "-Wl,-z,defs"], check=True)
    subprocess.run(cc + ["-O2", "-Wall", "-Wextra", "-Werror", "-o", loader,
                         "launcher/zygote-loader.c", "-ldl"], check=True)
    return library, loader


class build_launcher(build_scripts):
    """The `lxcri` script is the native launcher, compiled here from launcher/lxcri.c (the
    one entry of `scripts`) instead of copied; pip installs a binary script verbatim.

    It is linked statically against musl where Debian's musl-tools is installed
    (LXCRI_LAUNCHER_CC overrides; `make` installs musl-tools): the launcher runs before
    every command, and measured here, exec of a dynamically linked glibc binary costs
    about 0.55 ms more than of a static musl one (ld.so, libc's relocations and its
    start-up), a static glibc one 0.45 ms more: an eighth of runc's whole `state`. A
    static binary also runs on any Linux of the architecture. Without musl-gcc (or where
    it fails) the launcher is built with CC as before."""

    def run(self):
        os.makedirs(self.build_dir, exist_ok=True)
        out = os.path.join(self.build_dir, "lxcri")
        flags = ["-O2", "-Wall", "-Wextra", "-Werror", "-o", out, "launcher/lxcri.c"]
        chosen = os.environ.get("LXCRI_LAUNCHER_CC")
        if chosen:
            subprocess.run(chosen.split() + flags, check=True)
        elif not (shutil.which("musl-gcc") and subprocess.run(
                ["musl-gcc", "-static"] + flags, check=False).returncode == 0):
            subprocess.run(os.environ.get("CC", "cc").split() + flags, check=True)
        if shutil.which("strip"):
            subprocess.run(["strip", out], check=True)
        os.chmod(out, 0o755)


def have_liblxc():
    """Whether liblxc's headers are here (Debian: lxc-dev): then lxcri._lxc is built too."""
    if os.environ.get("LXCRI_WITHOUT_LXC"):
        return False
    try:
        return subprocess.run(["pkg-config", "--exists", "lxc"], check=False).returncode == 0
    except OSError:
        return False


setup(
    # lxcri._lxc (build_lxc.py) binds liblxc for the lxc backend; a host without
    # lxc-dev still builds and runs every other backend.
    cffi_modules=["build_crun.py:ffibuilder"]
    + (["build_lxc.py:ffibuilder"] if have_liblxc() and os.path.exists("build_lxc.py") else []),
    scripts=["launcher/lxcri.c"],
    cmdclass={"build_py": build_py_with_libcrun, "build_ext": build_ext_limited_api,
              "build_scripts": build_launcher},
    options={"bdist_wheel": {"py_limited_api": LIMITED_API_TAG}},
)
