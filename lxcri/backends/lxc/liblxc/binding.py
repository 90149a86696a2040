"""The liblxc binding of the lxc backend: loads lxcri._lxc (its only importer) and checks it.

The compiled module comes from build_lxc.py; the wheel does not carry liblxc
itself, because the lxc backend needs the host's lxc (templates, hooks, paths) anyway.
"""
from __future__ import annotations

from lxcri.errors import BackendUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Tuple


def load_binding() -> Tuple[Any, Any]:
    """lxcri._lxc's (ffi, lib), or BackendUnavailable saying how to get it."""
    try:
        from lxcri._lxc import ffi, lib
    except ImportError as exc:
        from importlib.util import find_spec

        if find_spec("lxcri._lxc") is not None:
            # Built, but the host's liblxc is missing: the wheel does not carry liblxc,
            # because the lxc backend needs the host's lxc (templates, hooks, paths) anyway.
            raise BackendUnavailable(
                f"the liblxc binding lxcri._lxc cannot load ({exc}): install the host's lxc "
                "(Debian: apt-get install lxc)") from None
        raise BackendUnavailable(
            f"the liblxc binding lxcri._lxc is not built ({exc}): install lxc-dev "
            "(pkg-config lxc) and reinstall lxcri") from None
    from lxcri._version import __version__

    built_for = ffi.string(lib.lxcri_lxc_module_version()).decode()
    if built_for != __version__:
        raise BackendUnavailable(f"lxcri._lxc was built for lxcri {built_for} but this is "
                                 f"lxcri {__version__}: reinstall lxcri")
    return ffi, lib


def version() -> str:
    """liblxc's version (loads the binding)."""
    ffi, lib = load_binding()
    return str(ffi.string(lib.lxc_get_version()).decode())
