"""The FFI skeleton both CFFI build scripts share: build_crun.py (lxcri._crun) and
build_lxc.py (lxcri._lxc). Each of those keeps only what is its library's own
(where the headers and libraries are, what to probe); everything else is here.

- Declarations: one file per concern under include/cdef/<binding>/, each opening
  with a comment naming the upstream header it mirrors and what lxcri uses of it,
  read in the order the build script lists (later files use earlier types).
- Facts: what differs between versions of a library is a C snippet compiled against
  its headers (`probe`): the fact holds exactly when the snippet compiles. The cdef
  files select on facts with `#if FACT` / `#if !FACT` / `#else` / `#endif`
  (`select_cdef`: CFFI's cdef has no preprocessor), and the module has each fact as
  a Python bool, lib.FACT.
- Strict compile flags (STRICT_CFLAGS: the errors gcc 14 makes of what gcc 12 only
  warns about) for the probes and the extension alike, so a declaration that does
  not match the headers fails the build on every compiler.
- LXCRI_VERSION, defined to lxcri's version for the C side (each module returns it,
  and lxcri refuses a module built for another version).

The stable ABI (Py_LIMITED_API=0x03090000, *.abi3.so) is not set here: setup.py's
build_ext pins it for every extension it builds.

setuptools runs the build scripts as `__cffi__` (cffi_modules in setup.py) from the
source tree; this module sits beside them, and they put their directory on sys.path
before importing it, so it is found however they are run.
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
CDEF = os.path.join(INCLUDE, "cdef")

# gcc 14 (Debian 13) makes these errors; gcc 12 (Debian 12) only warns.
STRICT_CFLAGS = ["-Werror=incompatible-pointer-types", "-Werror=int-conversion",
                 "-Werror=implicit-function-declaration", "-Werror=implicit-int"]


class BuildError(RuntimeError):
    """A build fails with one line saying what to do (the scripts exit with it)."""


def compiler():
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    return shlex.split(cc)


def version():
    ns = {}
    with open(os.path.join(HERE, "lxcri", "_version.py")) as f:
        exec(f.read(), ns)
    return ns["__version__"]


def probe(prelude, probes, *, include_dirs=(), cflags=(), one_of=(), headers="the headers",
          script="the build script"):
    """{name: bool} for probes ({name: C snippet}), each decided by compiling the
    snippet at file scope after prelude (the library's #includes).

    The prelude alone must compile (else BuildError naming `headers`); each group
    (*names, what) of one_of must have exactly one fact that holds, else the library
    has a form the cdef files do not know yet (BuildError naming `what`).
    """
    cmd = compiler() + ["-fsyntax-only"] + STRICT_CFLAGS + list(cflags)
    cmd += ["-I" + d for d in include_dirs]
    facts = {}
    with tempfile.TemporaryDirectory(prefix="lxcri-probe-") as tmp:
        base = os.path.join(tmp, "base.c")
        with open(base, "w") as f:
            f.write(prelude)
        res = subprocess.run(cmd + [base], capture_output=True, text=True)
        if res.returncode != 0:
            raise BuildError(f"lxcri build: {headers} do not compile: "
                             f"{res.stderr.strip().splitlines()[:3]}")
        for name, snippet in probes.items():
            path = os.path.join(tmp, name + ".c")
            with open(path, "w") as f:
                f.write(prelude + snippet + "\n")
            facts[name] = subprocess.run(cmd + [path], capture_output=True).returncode == 0
    for *names, what in one_of:
        if sum(facts[n] for n in names) != 1:
            raise BuildError(f"lxcri build: {what} in {headers} has a form include/cdef does "
                             f"not know: add it there and to PROBES in {script}")
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
                    raise BuildError(f"lxcri build: {name}:{n}: unknown fact {flag!r} "
                                     "(not in the build script's PROBES)")
                outer = all(keep for keep, _ in stack)
                stack.append((facts[flag] != bool(neg), outer))
            elif not stack:
                raise BuildError(f"lxcri build: {name}:{n}: #{kw} without #if")
            elif kw == "else":
                keep, outer = stack.pop()
                stack.append((not keep, outer))
            else:
                stack.pop()
            out.append("")  # keep line numbers for CFFI's messages
            continue
        out.append(line if all(keep for keep, _ in stack) else "")
    if stack:
        raise BuildError(f"lxcri build: {name}: #if without #endif")
    return "\n".join(out) + "\n"


def cdef_paths(binding, files):
    """The paths of include/cdef/<binding>/<file> for files, in their order."""
    return [os.path.join(CDEF, binding, name) for name in files]


def read_cdefs(binding, files, facts):
    """[(relative name, declarations selected by facts)] for the files, in order."""
    out = []
    for path in cdef_paths(binding, files):
        name = os.path.relpath(path, INCLUDE)
        with open(path) as f:
            out.append((name, select_cdef(f.read(), facts, name)))
    return out


def make_ffibuilder(module, binding, files, facts, source, *, include_dirs=(),
                    define_macros=(), extra_compile_args=(), extra_link_args=(), **kwargs):
    """The FFI of `module` (e.g. "lxcri._crun"): the cdef files of include/cdef/<binding>
    in order, the facts as `extern bool` (CFFI would make a constant an int), and
    set_source with the C source, lxcri's include/ first on the include path,
    LXCRI_VERSION, the strict flags and --as-needed; the rest is the caller's."""
    ffibuilder = FFI()
    for _name, text in read_cdefs(binding, files, facts):
        ffibuilder.cdef(text)
    if facts:
        ffibuilder.cdef("".join(f"extern bool {name};\n" for name in facts))
        source += "#include <stdbool.h>\n" + "".join(
            f"static bool {name} = {'true' if on else 'false'};\n" for name, on in facts.items())
    ffibuilder.set_source(
        module,
        source,
        include_dirs=[INCLUDE] + list(include_dirs),
        define_macros=[("LXCRI_VERSION", '"%s"' % version())] + list(define_macros),
        extra_compile_args=STRICT_CFLAGS + list(extra_compile_args),
        extra_link_args=list(extra_link_args) + ["-Wl,--as-needed"],
        **kwargs,
    )
    return ffibuilder
