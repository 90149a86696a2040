"""The binding to libcrun: loads lxcri._crun (its only importer), checks it, maps libcrun's errors.

Importing this module loads libcrun and what it links (lazily bound): only the
commands that act on a crun container import it. Every libcrun call returns
`int ret` and fills a `libcrun_error_t`; check() turns the pair into the return
value or an lxcri.errors exception (classify() picks the class), always releasing
the error.
"""
from __future__ import annotations

import errno as errno_mod
import os
import sys

from lxcri._version import __version__
from lxcri.errors import (
    BackendUnavailable,
    CgroupError,
    ContainerExists,
    InvalidBundle,
    LxcriError,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Optional

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

HYBRID_CGROUP_HINT = (
    "this host mounts cgroup v1 and v2 side by side with controllers enabled on v2, "
    "which libcrun refuses; move them off v2, e.g. for hugetlb: "
    "mkdir -p /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb "
    "(Proxmox VE 7+ uses pure cgroup v2 and is not affected)")

_process_setup_done = False
_handler_manager: Any = ffi.NULL  # libcrun's, made once by prepare_process


def prepare_process(debug: bool = False) -> int:
    """Once per process: libcrun's logging and handler registry are process globals.
    Sets and returns libcrun's verbosity for `debug`."""
    global _process_setup_done, _handler_manager
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


def check(ret: int, err: Any, what: str = "", container_id: Optional[str] = None) -> int:
    """Turn libcrun's (ret, err) into a return value or an LxcriError; always frees err."""
    if ret >= 0:
        return ret
    status, msg = 0, "unknown libcrun error"
    if err[0] != ffi.NULL:
        status = err[0].status
        if err[0].msg != ffi.NULL:
            msg = ffi.string(err[0].msg).decode("utf-8", "replace")
        lib.libcrun_error_release(err)
    raise error(status, msg, what, container_id)


def error(status: int, msg: str, what: str = "", container_id: Optional[str] = None) -> LxcriError:
    """The exception for libcrun's error (errno `status`, text `msg`)."""
    msg = msg or "unknown libcrun error"
    if status:
        msg = f"{msg}: {os.strerror(status)}"
    return classify(msg, status, what, container_id)


def classify(msg: str, status: int, what: str, container_id: Optional[str]) -> LxcriError:
    text = f"{what}: {msg}" if what else msg
    kw: Dict[str, Any] = {"errno": status or None, "container_id": container_id}
    if "hybrid mode not supported" in msg:
        return CgroupError(f"{text}; {HYBRID_CGROUP_HINT}", **kw)
    if "already exists" in msg and status in (0, errno_mod.EEXIST):
        return ContainerExists(text, **kw)
    if msg.startswith("executable file") or "exec container process" in msg:
        return InvalidBundle(f"{text}; check process.args[0] in the bundle's config.json "
                             "(and PATH in process.env)", **kw)
    return LxcriError(text, **kw)


def set_child_subreaper(on: bool) -> None:
    """prctl(PR_SET_CHILD_SUBREAPER) through lxcri's C shim (no ctypes import)."""
    if lib.lxcri_set_child_subreaper(1 if on else 0) < 0:
        raise OSError(ffi.errno, os.strerror(ffi.errno))
