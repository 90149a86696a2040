"""build_lxc.py: flags come from pkg-config, the binding compiles with the strict flags
against the host's liblxc headers and has every name lxcri uses, and a declaration
that does not match the headers fails the build (include/cdef's layout and the names
declared for both bindings: test_build_crun.py)."""
import glob
import importlib.util
import os
import re
import shutil
import subprocess

import pytest
from cffi import VerificationError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("build_lxc", os.path.join(ROOT, "build_lxc.py"))
build_lxc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_lxc)  # builds nothing: only as __cffi__ or a script
build_ffi = build_lxc.build_ffi


def _have_liblxc_headers():
    try:
        return subprocess.run(["pkg-config", "--exists", "lxc"]).returncode == 0
    except OSError:
        return False


needs_liblxc = pytest.mark.skipif(
    shutil.which(build_ffi.compiler()[0]) is None or not _have_liblxc_headers(),
    reason="no C compiler or no liblxc headers (lxc-dev)")


def test_pkg_config_flags_become_set_source_keywords():
    flags = build_lxc.split_flags(["-I/opt/lxc/include", "-pthread"],
                                  ["-L/opt/lxc/lib", "-llxc", "-Wl,-z,now"])
    assert flags == {"include_dirs": ["/opt/lxc/include"], "extra_compile_args": ["-pthread"],
                     "library_dirs": ["/opt/lxc/lib"], "libraries": ["lxc"],
                     "extra_link_args": ["-Wl,-z,now"]}


def test_no_pkg_config_says_how_to_build_without_lxc(monkeypatch):
    def missing(*args, **kwargs):
        raise FileNotFoundError("pkg-config")

    monkeypatch.setattr(build_lxc.subprocess, "run", missing)
    with pytest.raises(build_ffi.BuildError, match="LXCRI_WITHOUT_LXC=1"):
        build_lxc.make_ffibuilder()


def _compile(tmp_path):
    """lxcri._lxc built from the cdef files into tmp_path; the loaded module."""
    path = build_lxc.make_ffibuilder().compile(tmpdir=str(tmp_path))
    spec = importlib.util.spec_from_file_location("lxcri._lxc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _names_used():
    names = set()
    for path in glob.glob(os.path.join(ROOT, "lxcri", "**", "*.py"), recursive=True):
        with open(path) as f:
            text = f.read()
        if re.search(r"\bfrom lxcri\._lxc import\b", text):
            names |= set(re.findall(r"\blib\.([A-Za-z_]\w*)", text))
    return names


@needs_liblxc
def test_the_binding_compiles_and_has_what_lxcri_uses(tmp_path):
    module = _compile(tmp_path)
    used = _names_used()
    assert used and not used - set(dir(module.lib))
    # The struct members the liblxc driver reads, calls or sets.
    ffi = module.ffi
    container = {name for name, _ in ffi.typeof("struct lxc_container").fields}
    assert container == {"error_string", "error_num", "freeze", "unfreeze", "start",
                         "want_daemonize", "want_close_all_fds", "attach"}
    options = {name for name, _ in ffi.typeof("lxc_attach_options_t").fields}
    assert {"attach_flags", "namespaces", "personality", "initial_cwd", "uid", "gid",
            "env_policy", "extra_env_vars", "extra_keep_env", "stdin_fd", "stdout_fd",
            "stderr_fd", "log_fd", "groups"} <= options
    assert ffi.string(module.lib.lxcri_lxc_module_version()).decode() == build_ffi.version()


@needs_liblxc
def test_a_declaration_that_does_not_match_the_headers_fails_the_build(tmp_path, monkeypatch):
    cdef = tmp_path / "cdef"
    shutil.copytree(build_ffi.CDEF, cdef)
    container = cdef / "lxc" / "container.h"
    text = container.read_text()
    wrong = text.replace("bool (*freeze)(struct lxc_container *c);",
                         "int (*freeze)(struct lxc_container *c);")
    assert wrong != text
    container.write_text(wrong)
    monkeypatch.setattr(build_ffi, "CDEF", str(cdef))
    with pytest.raises(VerificationError, match="incompatible-pointer-types|freeze"):
        _compile(tmp_path / "build")
