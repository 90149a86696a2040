"""lxcri: an OCI container runtime for Proxmox VE hosts, embedding libcrun.

    import lxcri
    rt = lxcri.Runtime(root="/run/lxcri")
    code = rt.run("hello", "/path/to/bundle")

Importing lxcri is cheap and has no side effects: the libcrun binding is loaded
only when a container operation needs it, and loading it never re-executes the
interpreter (see lxcri.sealed).
"""
from lxcri._version import __version__
from lxcri.errors import (
    BackendUnavailable,
    CgroupError,
    ConfigFileError,
    ContainerExists,
    ContainerNotFound,
    ContainerStateError,
    HelperError,
    HookFailed,
    InvalidArgument,
    InvalidBundle,
    InvalidConfig,
    LxcriError,
    ProxmoxError,
    ResourceExhausted,
    StateCorrupt,
)

__all__ = [
    "__version__", "Runtime", "State", "LxcriError", "ContainerNotFound", "ContainerExists",
    "InvalidArgument", "InvalidBundle", "InvalidConfig", "ContainerStateError", "CgroupError",
    "BackendUnavailable", "ConfigFileError", "HelperError", "ProxmoxError", "HookFailed",
    "ResourceExhausted", "StateCorrupt",
]


def __getattr__(name: str) -> object:
    # Runtime and State live in lxcri.runtime; import it on first use only.
    if name in ("Runtime", "State"):
        from lxcri import runtime

        return getattr(runtime, name)
    raise AttributeError(f"module 'lxcri' has no attribute {name!r}")
