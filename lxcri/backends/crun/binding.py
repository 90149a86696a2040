"""The binding to libcrun: loads lxcri._crun (its only importer) and checks it.

Importing this module loads libcrun and what it links (lazily bound): only the
commands that call libcrun in their own process import it (lxcri.backends.crun.backend
does so on first use; a create, run or exec of the CLI runs in the zygote and never
does). Every libcrun call returns `int ret` and fills a `libcrun_error_t`; check()
turns the pair into the return value or an lxcri.errors exception (through
lxcri.backends.crun.messages), always releasing the error. A call made inside
`with LibcrunCall() as call:` also has what libcrun wrote to stderr meanwhile
(call.text) and its rlimits set back afterwards; given to check(), that text explains
the failures libcrun only logs (a failing hook).
"""
from __future__ import annotations

import os
import sys

from lxcri._version import __version__
from lxcri.backends.crun import messages
from lxcri.backends.crun.failures import error
from lxcri.backends.crun.messages import Logged
from lxcri.errors import BackendUnavailable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional

_dlopen_flags = sys.getdlopenflags()
# Lazy binding: resolving every symbol of libcrun, libsystemd, libgcrypt, ... up
# front costs milliseconds that a `state` call never uses.
sys.setdlopenflags(os.RTLD_LAZY | (_dlopen_flags & ~os.RTLD_NOW))
try:
    from lxcri._crun import ffi as ffi  # re-exported: the backend uses both
    from lxcri._crun import lib as lib
except ImportError as exc:  # built without libcrun, or libcrun.so.0 missing beside it
    raise BackendUnavailable(f"the embedded crun backend cannot load: {exc}") from None
finally:
    sys.setdlopenflags(_dlopen_flags)

_built_for = ffi.string(lib.lxcri_module_version()).decode()
if _built_for != __version__:
    raise BackendUnavailable(
        f"lxcri._crun was built for lxcri {_built_for} but this is lxcri {__version__}: "
        "reinstall lxcri")

_process_setup_done = False
_handler_manager: Any = ffi.NULL  # libcrun's, made once by prepare_process


def prepare_process(debug: bool = False) -> int:
    """Once per process: libcrun's logging and handler registry are process globals.
    Sets and returns libcrun's verbosity for `debug`."""
    global _process_setup_done, _handler_manager
    messages.set_debug(debug)
    verbosity = _debug_verbosity() if debug else int(lib.LIBCRUN_VERBOSITY_ERROR)
    lib.libcrun_set_verbosity(verbosity)
    if _process_setup_done:
        return verbosity
    err = ffi.new("libcrun_error_t *")
    handler = ffi.new("crun_output_handler *")
    handler_arg = ffi.new("void **")
    check(lib.libcrun_init_logging(handler, handler_arg, ffi.NULL, ffi.NULL, err), err)
    _handler_manager = lib.libcrun_handler_manager_create(err)
    if _handler_manager == ffi.NULL:
        check(-1, err)
    _process_setup_done = True
    return verbosity


def handler_manager() -> Any:
    """libcrun's handler registry (custom OCI handlers); NULL before prepare_process."""
    return _handler_manager


def _debug_verbosity() -> int:
    """What crun --debug sets: LIBCRUN_VERBOSITY_DEBUG where this libcrun has it (1.21),
    else WARNING (1.8.1, whose crun --debug sets nothing more)."""
    if lib.LXCRI_HAS_VERBOSITY_DEBUG:
        return int(lib.LIBCRUN_VERBOSITY_DEBUG)
    return int(lib.LIBCRUN_VERBOSITY_WARNING)


class LibcrunCall(Logged):
    """`with LibcrunCall() as call:` around one libcrun call in this process: what
    libcrun writes to the C stderr stream meanwhile is kept (call.text) instead of
    printed, and the rlimits of this process are set back afterwards (libcrun applies a
    container's process.rlimits to its caller). check(..., call=call) shows the text
    that its error does not already say."""

    __slots__ = ()

    def __enter__(self) -> "LibcrunCall":
        lib.lxcri_call_begin(1 if self._pass_through else 0)
        return self

    def __exit__(self, *exc: object) -> None:
        failed = ffi.new("int *")
        self.text = ffi.string(lib.lxcri_call_end(failed)).decode("utf-8", "replace")
        self.limits_failed = int(failed[0])


def check(ret: int, err: Any, what: str = "", container_id: Optional[str] = None, *,
          call: Optional[LibcrunCall] = None, config_path: Optional[str] = None,
          root: Optional[str] = None) -> int:
    """Turn libcrun's (ret, err) into a return value or an LxcriError; always frees err.

    call: the LibcrunCall the call ran in (its messages explain an error libcrun only
    logged); config_path and root: the bundle's config.json and the state root, which
    let a failure name the hook, the rlimit or the full disk behind it."""
    if ret >= 0:
        if call is not None:
            call.show()
        return ret
    status, msg = take_error(err)
    raise error(status, msg, what, container_id, call=call, config_path=config_path, root=root)


def take_error(err: Any) -> "tuple[int, str]":
    """(errno, message) of libcrun's error, released; (0, "") when it set none."""
    status, msg = 0, ""
    if err[0] != ffi.NULL:
        status = err[0].status
        if err[0].msg != ffi.NULL:
            msg = ffi.string(err[0].msg).decode("utf-8", "replace")
        lib.libcrun_error_release(err)
    return status, msg


def set_child_subreaper(on: bool) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER) through lxcri's C shim (no ctypes import)."""
    if lib.lxcri_set_child_subreaper(1 if on else 0) < 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno))
