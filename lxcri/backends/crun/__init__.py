"""The crun backend: containers run by libcrun, embedded in this process.

    binding  loads lxcri._crun (libcrun) and turns libcrun's errors into lxcri's
    backend  CrunBackend: the OCI operations, one libcrun call each

Importing this package loads nothing (not even os or lxcri.errors: lxcri.quick imports
its status module first thing): libcrun is loaded by the backend's first call of it in
this process, and only the commands that call libcrun here pay for it (a create, run
or exec of the CLI runs in the zygote and does not).
"""
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Mapping, Optional, Tuple


def embedded_problem(load: bool = True) -> "Optional[str]":
    """Why the embedded crun cannot load (lxcri._crun or libcrun.so.0 missing or broken),
    or None when it can. load: by loading libcrun; else by looking for the files and
    asking the CLI's early zygote whether it loaded them (a create through the zygote
    never loads libcrun in this process)."""
    from lxcri.errors import BackendUnavailable

    if not load:
        missing = _missing_file()
        if missing is not None:
            return missing
        from lxcri.backends.crun import zygote

        return zygote.early_problem()  # the CLI's zygote, if any, says whether it loaded
    try:
        from lxcri.backends.crun import binding  # noqa: F401
    except BackendUnavailable as exc:
        return exc.message
    except ImportError as exc:
        return f"the embedded crun backend cannot load: {exc}"
    return None


_missing: "Optional[Tuple[Optional[str]]]" = None


def _missing_file() -> "Optional[str]":
    """Which of the embedded crun's files is missing, looked up once per process (a CLI
    create asks twice: choosing its backend, then opening it)."""
    global _missing
    if _missing is None:
        _missing = (_look_for_files(),)
    return _missing[0]


def _look_for_files() -> "Optional[str]":
    import posix

    from lxcri import posixos

    package = posixos.dirname(posixos.dirname(posixos.dirname(posixos.abspath(__file__))))
    names = posix.listdir(package)
    if not any(name.startswith("_crun.") and name.endswith(".so") for name in names):
        return "the embedded crun backend cannot load: lxcri._crun is not installed"
    if "libcrun.so.0" not in names:
        return ("the embedded crun backend cannot load: libcrun.so.0: cannot open shared "
                f"object file: No such file or directory (in {package})")
    return None


def open_backend(root: str, *, options: "Optional[Mapping[str, Any]]" = None,
                 **args: "Any") -> "Any":
    """The embedded crun; when it cannot load, the crun binary ([runtimes.crun] path, else
    PATH: same state format, same root) with a `warning` for the user; else
    BackendUnavailable. options are read only in that fallback."""
    problem = embedded_problem(load=False)
    if problem is None:
        from lxcri.backends.crun.backend import CrunBackend

        return CrunBackend(root, **args)
    from lxcri import posixos
    from lxcri.backends import PRIVATE_DIR
    from lxcri.backends.oci_binary import OciBinaryBackend, find_binary
    from lxcri.errors import BackendUnavailable

    binary, why = find_binary("crun", (options or {}).get("path"))
    if binary is None:
        raise BackendUnavailable(f"the crun backend is unavailable: {problem}; and {why}")
    backend = OciBinaryBackend("crun", binary, root, posixos.join(root, PRIVATE_DIR), **args)
    backend.warning = f"{problem}; using the crun binary {binary} instead"
    return backend


def availability(options: "Dict[str, Any]") -> "Tuple[bool, str]":
    """The embedded libcrun and its version, else the crun binary that stands in, else why not."""
    problem = embedded_problem()
    if problem is None:
        from lxcri.backends.crun.inprocess import version_info

        return True, f"embedded libcrun {version_info()['libcrun']}"
    from lxcri.backends.oci_binary import find_binary

    binary, why = find_binary("crun", options.get("path"))
    if binary is not None:
        return True, f"crun binary {binary} (fallback: {problem})"
    return False, f"{problem}; and {why}"
