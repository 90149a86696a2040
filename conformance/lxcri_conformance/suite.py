"""crun's test-suite: locating it in the crun source tree, copying it to the work
directory, building its static init, the python-libmount stand-in test_mounts.py
gets, which files to run, and the tests each file declares.

The suite is a build input (the tree `make libcrun` unpacks); it is never modified.
"""
from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
from typing import cast

from .common import HarnessError, log

LIBMOUNT_STANDIN = '''\
"""Stand-in for util-linux's Python binding (pylibmount), which Debian does not
package: only what crun's test_mounts.py uses. Written by lxcri's conformance/run.py
when asked with --libmount-standin."""

class _Fs:
    def __init__(self, target, vfs_options, fs_options):
        self.target, self.vfs_options, self.fs_options = target, vfs_options, fs_options

def _unescape(s):
    import re
    return re.sub(r"\\\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)

class Table:
    def __init__(self, path):
        self._fs = []
        with open(path) as f:
            for line in f:
                pre, sep, post = line.rstrip("\\n").partition(" - ")
                if not sep:
                    continue
                a, b = pre.split(), post.split()
                self._fs.append(_Fs(_unescape(a[4]), a[5], b[2] if len(b) > 2 else ""))

    def find_target(self, target):
        for fs in reversed(self._fs):   # libmount searches backward: the top mount
            if fs.target == target:
                return fs
        return None
'''


def prepare(tree: str, work: str, libmount_standin: bool) -> tuple[str, str, list[str]]:
    src = os.path.join(tree, "tests")
    if not os.path.isfile(os.path.join(src, "tests_utils.py")):
        raise HarnessError("conformance: no crun test-suite at %s (set LXCRI_CRUN_TREE or run "
                         "`make libcrun`)" % src)
    tests = os.path.join(work, "tests")
    shutil.copytree(src, tests, ignore=shutil.ignore_patterns(
        ".deps", "*.o", "*.trs", "*.log", "__pycache__", ".testsuite-run-*", "init"))
    # init.c includes <config.h>; crun's build compiles it with the configured tree's.
    inc = os.path.join(work, "include")
    os.makedirs(inc)
    cfg = os.path.join(tree, "config.h")
    if os.path.isfile(cfg):
        shutil.copy(cfg, inc)
    else:
        log("warning: %s missing (tree not configured); building init without it" % cfg)
        open(os.path.join(inc, "config.h"), "w").close()
    init = os.path.join(tests, "init")
    cc = os.environ.get("CC", "gcc")
    cmd = [cc, "-static", "-O2", "-I", inc, "-o", init, os.path.join(tests, "init.c")]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        hint = ""
        if "cannot find -lc" in r.stdout or "libc.a" in r.stdout:
            hint = " (no static glibc: install libc6-dev, which ships libc.a)"
        elif "seccomp.h" in r.stdout:
            hint = " (config.h says HAVE_SECCOMP: install libseccomp-dev)"
        raise HarnessError("conformance: building the suite's static init failed%s:\n$ %s\n%s"
                         % (hint, " ".join(cmd), r.stdout))
    pypath: list[str] = []
    if libmount_standin:
        d = os.path.join(work, "standin")
        os.makedirs(d)
        with open(os.path.join(d, "libmount.py"), "w") as f:
            f.write(LIBMOUNT_STANDIN)
        pypath.append(d)
    os.makedirs(os.path.join(work, "tmp"))
    return tests, init, pypath


def tree_version(tree: str) -> str:
    try:
        with open(os.path.join(tree, "config.h")) as f:
            m = re.search(r'#define PACKAGE_VERSION "([^"]+)"', f.read())
        return m.group(1) if m else "?"
    except OSError:
        return "?"


def has_module(python: str, name: str, pypath: list[str]) -> bool:
    env = dict(os.environ)
    if pypath:
        env["PYTHONPATH"] = os.pathsep.join(pypath)
    return subprocess.run([python, "-c", "import " + name], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0


def select_files(tests: str, only: str) -> list[str]:
    """The suite's test files, sorted, or those of them named in `only` (comma-separated)."""
    files = sorted(f for f in os.listdir(tests) if f.startswith("test_") and f.endswith(".py"))
    if only:
        wanted = [f.strip() for f in only.split(",") if f.strip()]
        unknown = [f for f in wanted if f not in files]
        if unknown:
            raise HarnessError("conformance: no such test file(s): %s" % ", ".join(unknown))
        files = [f for f in files if f in wanted]
    return files


def declared_tests(path: str) -> list[str]:
    """Names in the file's `all_tests = {...}` dict (to account for tests that never ran)."""
    try:
        tree = ast.parse(open(path).read(), path)
    except (OSError, SyntaxError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and \
                any(isinstance(t, ast.Name) and t.id == "all_tests" for t in node.targets):
            return [cast(str, k.value) for k in node.value.keys if isinstance(k, ast.Constant)]
    return []
