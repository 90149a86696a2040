"""build_crun.py: the cdef follows the crun tree (probed facts select `#if` branches),
and the link list is read from libcrun.la. Fake trees stand for crun 1.8.1 and 1.21.
Also the skeleton both build scripts share (build_ffi.py: `#if` evaluation) and the
layout of include/cdef/ for both bindings (test_build_lxc.py has lxc's own)."""
import glob
import importlib.util
import os
import re
import shutil
import textwrap

import pytest
from cffi import FFI

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location("build_crun", os.path.join(ROOT, "build_crun.py"))
build_crun = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_crun)
build_ffi = build_crun.build_ffi  # the skeleton it imports from beside itself
_spec = importlib.util.spec_from_file_location("build_lxc", os.path.join(ROOT, "build_lxc.py"))
build_lxc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_lxc)  # builds nothing: only as __cffi__ or a script
BINDINGS = {"crun": build_crun, "lxc": build_lxc}

needs_cc = pytest.mark.skipif(shutil.which(build_ffi.compiler()[0]) is None,
                              reason="no C compiler")


def test_select_cdef_keeps_the_branches_that_hold():
    text = "a\n#if X\nb\n#else\nc\n#endif\n#if !X\nd\n#endif\n#if Y\n#if X\ne\n#endif\n#endif\nf"
    on = build_ffi.select_cdef(text, {"X": True, "Y": True})
    off = build_ffi.select_cdef(text, {"X": False, "Y": True})
    outer_off = build_ffi.select_cdef(text, {"X": True, "Y": False})
    assert on.split() == ["a", "b", "e", "f"]
    assert off.split() == ["a", "c", "d", "f"]
    assert outer_off.split() == ["a", "b", "f"]
    # Dropped lines stay as blanks, so CFFI's line numbers still point into the file.
    assert on.count("\n") == text.count("\n") + 1


def test_select_cdef_leaves_cffi_defines_alone():
    assert build_ffi.select_cdef("#define A ...\n", {}).strip() == "#define A ..."


@pytest.mark.parametrize("text, msg", [
    ("#if NOPE\n#endif\n", "unknown fact 'NOPE'"),
    ("#if X\n", "#if without #endif"),
    ("#endif\n", "#endif without #if"),
    ("#else\n", "#else without #if"),
])
def test_select_cdef_rejects_what_it_cannot_evaluate(text, msg):
    with pytest.raises(build_ffi.BuildError, match=msg):
        build_ffi.select_cdef(text, {"X": True})


def _cdef_text(facts):
    cdefs = build_ffi.read_cdefs("crun", build_crun.CDEF_FILES, facts)
    return "".join(text for _name, text in cdefs)


@pytest.mark.parametrize("value", [True, False])
def test_every_cdef_fact_is_probed_and_each_selection_parses(value):
    facts = {name: value for name in build_crun.PROBES}
    for *names, _ in build_crun.ONE_OF:  # one form of each
        for n in names:
            facts[n] = False
        facts[names[0 if value else 1]] = True
    FFI().cdef(_cdef_text(facts))


# Just enough of libcrun's headers for the probes, in the two forms seen.
_CONTAINER_H = """\
#include <config.h>
#include <stdbool.h>
#include "error.h"
struct libcrun_context_s {{
  const char *id;
  {field}
  bool no_pivot;
}};
typedef struct libcrun_context_s libcrun_context_t;
{function}
"""
_ERROR_H = """\
#ifndef ERROR_H
#define ERROR_H
#include <stdbool.h>
typedef struct libcrun_error_s *libcrun_error_t;
typedef void (*crun_output_handler) (int errno_, const char *msg, {third}, void *arg);
enum {{ {levels} }};
#endif
"""
OLD = dict(field="bool no_subreaper;", function="", third="bool warning",
           levels="LIBCRUN_VERBOSITY_ERROR, LIBCRUN_VERBOSITY_WARNING")
NEW = dict(field="", third="int verbosity",
           function="struct features_info_s;\nint libcrun_container_get_features "
                    "(libcrun_context_t *c, struct features_info_s **i, libcrun_error_t *e);",
           levels="LIBCRUN_VERBOSITY_ERROR = 0, LIBCRUN_VERBOSITY_WARNING, LIBCRUN_VERBOSITY_DEBUG")


def fake_tree(tmp_path, form):
    lib = tmp_path / "src" / "libcrun"
    lib.mkdir(parents=True)
    (tmp_path / "config.h").write_text("#define PACKAGE_VERSION \"0\"\n")
    (lib / "container.h").write_text(_CONTAINER_H.format(**form))
    (lib / "error.h").write_text(_ERROR_H.format(**form))
    (lib / "status.h").write_text("")
    (lib / "custom-handler.h").write_text("")
    return str(tmp_path)


@needs_cc
def test_probes_tell_crun_1_8_from_1_21(tmp_path):
    old = build_crun.probe_tree(fake_tree(tmp_path / "old", OLD))
    new = build_crun.probe_tree(fake_tree(tmp_path / "new", NEW))
    assert old == {"LXCRI_HAS_CONTEXT_NO_SUBREAPER": True,
                   "LXCRI_OUTPUT_HANDLER_INT_VERBOSITY": False,
                   "LXCRI_OUTPUT_HANDLER_BOOL_WARNING": True,
                   "LXCRI_HAS_VERBOSITY_DEBUG": False,
                   "LXCRI_HAS_CONTAINER_GET_FEATURES": False}
    assert new == {name: not on for name, on in old.items()}


@needs_cc
def test_an_unknown_callback_form_fails_the_build_by_name(tmp_path):
    tree = fake_tree(tmp_path, dict(NEW, third="unsigned verbosity"))
    with pytest.raises(build_crun.CrunTreeError, match="crun_output_handler"):
        build_crun.probe_tree(tree)


@needs_cc
def test_headers_that_do_not_compile_fail_the_build(tmp_path):
    tree = fake_tree(tmp_path, dict(NEW, field="no_such_type x;"))
    with pytest.raises(build_crun.CrunTreeError, match="do not compile"):
        build_crun.probe_tree(tree)


@pytest.mark.parametrize("deps, libs", [
    ("' -lsystemd -lseccomp -lgcrypt -lcap -lyajl'", ["systemd", "seccomp", "gcrypt", "cap", "yajl"]),
    ("' -L/opt/x/lib -lseccomp -lcap -ljson-c'", ["seccomp", "cap", "json-c"]),
])
def test_link_list_comes_from_libcrun_la(tmp_path, deps, libs):
    la = tmp_path / "libcrun.la"
    la.write_text(textwrap.dedent(f"""\
        # libcrun.la - a libtool library file
        dlname='libcrun.so.0'
        dependency_libs={deps}
        """))
    got_libs, dirs = build_crun.libtool_dependency_libs(str(la))
    assert got_libs == libs
    assert dirs == (["/opt/x/lib"] if "-L" in deps else [])


# -- include/cdef/<binding>/, both bindings --------------------------------------------

@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_every_cdef_file_is_read_once_in_the_scripts_order(binding):
    files = BINDINGS[binding].CDEF_FILES
    on_disk = sorted(os.path.basename(p)
                     for p in glob.glob(os.path.join(build_ffi.CDEF, binding, "*.h")))
    assert sorted(files) == on_disk and len(set(files)) == len(files)
    assert files[-1] == "shim.h"  # lxcri's own helpers use the library's types


@pytest.mark.parametrize("binding", sorted(BINDINGS))
def test_each_cdef_file_says_what_it_mirrors_and_what_lxcri_uses_it_for(binding):
    for path in build_ffi.cdef_paths(binding, BINDINGS[binding].CDEF_FILES):
        with open(path) as f:
            head = f.read().split("*/", 1)[0]
        assert re.match(r"/\* cdef (mirroring \S+\.h|of lxcri's own)", head), path
        assert re.search(r"lxcri (uses it|does not use it yet)|lxcri's own", head), path


def _names_used(module):
    """The `lib.NAME`s of every file in lxcri/ that imports the binding `module`."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "lxcri", "**", "*.py"), recursive=True):
        with open(path) as f:
            text = f.read()
        if re.search(rf"\bfrom {re.escape(module)} import\b", text):
            names |= set(re.findall(r"\blib\.([A-Za-z_]\w*)", text))
    return names


def _declared(binding):
    text = ""
    for path in build_ffi.cdef_paths(binding, BINDINGS[binding].CDEF_FILES):
        with open(path) as f:
            text += re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return text


@pytest.mark.parametrize("binding, module", [("crun", "lxcri._crun"), ("lxc", "lxcri._lxc")])
def test_every_name_lxcri_uses_is_declared(binding, module):
    used = _names_used(module)
    assert used, f"no file of lxcri/ imports {module}: the test looks in the wrong place"
    text = _declared(binding)
    missing = [n for n in sorted(used)
               if n not in BINDINGS[binding].PROBES and not re.search(rf"\b{n}\b", text)]
    assert not missing
